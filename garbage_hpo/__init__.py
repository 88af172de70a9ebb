"""garbage-hpo: tracked, reproducible hyperparameter sweeps for MobileNetV2 garbage classification."""

__version__ = "0.1.0"

__all__ = ["Predictor", "__version__"]


def __getattr__(name: str):
    # lazy: `import garbage_hpo` stays cheap; MindSpore loads only when a Predictor is asked for
    if name == "Predictor":
        from garbage_hpo.deploy import Predictor

        return Predictor
    raise AttributeError(f"module 'garbage_hpo' has no attribute {name!r}")
