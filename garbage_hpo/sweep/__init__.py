"""Sweeps: Optuna studies whose trials compose a Hydra config, train it, and land in MLflow."""
