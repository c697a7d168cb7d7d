"""Image parameterizations (``param=...``): pixel, Fourier (1/f spectrum, decorrelated colour)
and MaCo (phase only, natural magnitude). See base.py for the interface."""

from vizlab.params.base import ImageParam, reflect_pad
from vizlab.params.build import PARAMS, build_param
from vizlab.params.fourier import FourierParam, spectrum_scale
from vizlab.params.maco import MacoParam, natural_magnitude
from vizlab.params.pixel import PixelParam

__all__ = [
    "PARAMS",
    "FourierParam",
    "ImageParam",
    "MacoParam",
    "PixelParam",
    "build_param",
    "natural_magnitude",
    "reflect_pad",
    "spectrum_scale",
]
