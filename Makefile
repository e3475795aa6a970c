# The two commands of the README, and the set-up both run first.
PYTHON := .venv/bin/python
PYTEST_ARGS ?=
# pytest-xdist workers: two on the 2-core machine measured 1.8x on the unit tests (0: one process).
PYTEST_WORKERS ?= 2
SETUP := bash tools/install/setup_env.sh
# Runs a command and prints how long it took (set-up included), keeping its exit status.
TIMED = start=$$(date +%s); $(1); status=$$?; \
	echo "[make $@] $$(( $$(date +%s) - start )) s in all, set-up included (exit $$status)"; \
	exit $$status

.PHONY: setup demo test test-fast lint format benchmark

setup:  ## create or update .venv (idempotent; seconds when nothing changed)
	@$(SETUP)

demo: setup  ## the main job on the embedded synthetic data, on the CPU
	$(PYTHON) -m tools.demo

test:  ## every test, the slow end-to-end ones included (what CI runs)
	@$(call TIMED,$(SETUP) && $(PYTHON) -m pytest tests \
		-n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS))

test-fast:  ## unit tests only
	@$(call TIMED,$(SETUP) && \
		$(PYTHON) -m pytest tests -m "not slow" -n $(PYTEST_WORKERS) $(PYTEST_ARGS))

lint: setup  ## ruff's checks (pycodestyle, pyflakes, isort) and its formatter, both read-only
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

format: setup  ## apply what `make lint` checks
	$(PYTHON) -m ruff check --fix .
	$(PYTHON) -m ruff format .

benchmark: setup
	$(PYTHON) -m tools.benchmarks.benchmark_losses
