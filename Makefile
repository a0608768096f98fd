# ddvlm_ros: `make setup` once, then `make test`; `make run` starts the node.
SHELL := /bin/bash
WITH_ENV := scripts/with_env

.PHONY: setup test run lint bench
setup:
	scripts/setup.sh

test:
	$(WITH_ENV) python -m pytest

run:
	$(WITH_ENV) ros2 launch ddvlm_ros emotion.launch.py $(ARGS)

lint:
	$(WITH_ENV) ruff check .

bench:
	$(WITH_ENV) python benchmarks/woq.py
	$(WITH_ENV) python benchmarks/node_latency.py
