# ddvlm_ros: `make setup` once, then `make test`; `make run` starts the node.
SHELL := /bin/bash
WITH_ENV := scripts/with_env

.PHONY: setup test run lint bench
setup:
	scripts/setup.sh

# Two workers: most tests wait on DDS and child processes (domain ids are claimed per test, so workers
# never cross-talk); more than two made timing-sensitive DDS tests fail on a 2-core machine.
TEST_WORKERS ?= 2
test:
	$(WITH_ENV) python -m pytest -n $(TEST_WORKERS)

run:
	$(WITH_ENV) ros2 launch ddvlm_ros emotion.launch.py $(ARGS)

lint:
	$(WITH_ENV) ruff check .

bench:
	$(WITH_ENV) python benchmarks/woq.py
	$(WITH_ENV) python benchmarks/node_latency.py
