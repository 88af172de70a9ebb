"""Honest model selection: cross-validation folds, the CV objective, refit on every photo, a peer probe."""
