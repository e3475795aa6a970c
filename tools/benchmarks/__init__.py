"""Loss and training-step benchmarks: ``python -m tools.benchmarks.<module>``."""
