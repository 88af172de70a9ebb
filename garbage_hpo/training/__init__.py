"""Training stages: the head on cached features (stage 1) and backbone fine-tuning (stage 2)."""
