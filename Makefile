# The two commands of the README, and the set-up both run first.
PYTHON := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: setup demo test test-fast benchmark

setup:  ## create or update .venv (idempotent; seconds when nothing changed)
	@bash tools/install/setup_env.sh

demo: setup  ## the main job on the embedded synthetic data, on the CPU
	$(PYTHON) -m tools.demo

test: setup  ## every test, the slow end-to-end ones included (what CI runs)
	$(PYTHON) -m pytest tests $(PYTEST_ARGS)

test-fast: setup  ## unit tests only
	$(PYTHON) -m pytest tests -m "not slow" $(PYTEST_ARGS)

benchmark: setup
	$(PYTHON) tools/benchmarks/benchmark_losses.py
