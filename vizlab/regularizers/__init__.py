"""Natural-image priors (Mahendran & Vedaldi Sect. 3.2) and input transforms.

All penalties take images in *paper units* (RGB 0..255, mean subtracted) and return one value
per image, so a batch of images is optimized as independent problems.
"""

from vizlab.regularizers.stack import RegularizerStack, build_regularizers

__all__ = ["RegularizerStack", "build_regularizers"]
