"""Defaults of the level options, importable without torch (the commands' --help)."""
AUTO = "auto"
DEFAULT_ESTIMATOR = "runs/estimator"
