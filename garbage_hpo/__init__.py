"""garbage-hpo: tracked, reproducible hyperparameter sweeps for MobileNetV2 garbage classification."""

__version__ = "0.1.0"
