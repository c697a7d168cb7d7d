"""vizlab: config-driven visualization of image classifiers (timm CNNs and ViTs)."""

__version__ = "0.1.0"
