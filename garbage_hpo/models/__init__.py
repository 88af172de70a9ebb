"""One file per architecture (MobileNetV2, MobileNetV1), the heads, and what the deployable networks are made of."""
