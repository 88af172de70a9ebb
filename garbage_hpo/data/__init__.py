"""Datasets in the course layout: class names, indexing, splitting, preprocessing and the demo set."""
