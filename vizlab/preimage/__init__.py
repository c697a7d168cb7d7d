"""The pre-image engine: images that minimize a data term plus natural-image penalties
(Mahendran & Vedaldi 2016, Eq. 1/7; Olah et al. 2017's parameterizations and transforms),
on plain objects. :func:`render` is the one-call entry point; the Hydra methods (inversion,
activation maximization, caricature, class models) are adapters over :func:`solve` /
:func:`optimize`."""

from vizlab.preimage.calibration import balanced_C, resolve_C, unit_C
from vizlab.preimage.loop import optimize
from vizlab.preimage.problem import (
    PreImageProblem,
    PreImageTrace,
    image_generators,
    image_keys,
)
from vizlab.preimage.readout import evaluate, to_unit_images
from vizlab.preimage.render import RenderResult, parse_objective, render
from vizlab.preimage.solve import EngineSettings, solve

__all__ = [
    "EngineSettings",
    "PreImageProblem",
    "PreImageTrace",
    "RenderResult",
    "balanced_C",
    "evaluate",
    "image_generators",
    "image_keys",
    "optimize",
    "parse_objective",
    "render",
    "resolve_C",
    "solve",
    "to_unit_images",
    "unit_C",
]
