"""Per-step image transforms (``transforms=...``): random pad / jitter / scale / rotate /
crop before the model (Olah et al. 2017), and Yosinski et al.'s post-step blur and clipping."""

from vizlab.transforms.spatial import Jitter, Pad, RandomCrop, RandomRotate, RandomScale, fit
from vizlab.transforms.stack import HOOKS, TRANSFORMS, TransformStack, build_transforms
from vizlab.transforms.step_hooks import BlurEvery, ClipSmallContribution, ClipSmallNorm

__all__ = [
    "HOOKS",
    "TRANSFORMS",
    "BlurEvery",
    "ClipSmallContribution",
    "ClipSmallNorm",
    "Jitter",
    "Pad",
    "RandomCrop",
    "RandomRotate",
    "RandomScale",
    "TransformStack",
    "build_transforms",
    "fit",
]
