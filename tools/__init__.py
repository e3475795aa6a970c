"""The command-line tools. ``tools.demo`` and ``tools.analysis`` are packages:
run them from the repository root as ``python -m tools.demo`` or
``python -m tools.analysis.compare_runs``."""
