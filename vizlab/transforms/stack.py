"""The ``transforms`` config group: an ordered dict of named entries, each a transform of
spatial.py (applied to the image before the model, every step) or a post-step hook of
step_hooks.py. An entry's ``type`` defaults to its key, so one transform can appear twice
(``jitter`` and ``jitter_fine: {type: jitter}``). Edit on the command line:
``transforms.jitter.pixels=16``, ``~transforms.rotate``, ``+transforms.blur.every=4``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from omegaconf import DictConfig

from vizlab.transforms.spatial import (
    Generators,
    Jitter,
    Pad,
    RandomCrop,
    RandomRotate,
    RandomScale,
)
from vizlab.transforms.step_hooks import BlurEvery, ClipSmallContribution, ClipSmallNorm

TRANSFORMS: dict[str, type] = {
    "pad": Pad,
    "jitter": Jitter,
    "scale": RandomScale,
    "rotate": RandomRotate,
    "crop": RandomCrop,
}
HOOKS: dict[str, type] = {
    "blur": BlurEvery,
    "clip_norm": ClipSmallNorm,
    "clip_contribution": ClipSmallContribution,
}


@dataclass
class TransformStack:
    """Input transforms (in order) and post-step hooks, from the ``transforms`` config."""

    transforms: list[Callable] = field(default_factory=list)
    hooks: list[Callable] = field(default_factory=list)

    def __call__(self, x: torch.Tensor, generators: Generators = None) -> torch.Tensor:
        for transform in self.transforms:
            x = transform(x, generators)
        return x

    @property
    def wants_grad(self) -> bool:
        return any(getattr(h, "wants_grad", False) for h in self.hooks)

    @torch.no_grad()
    def after_step(
        self, step: int, x: torch.Tensor, grad: torch.Tensor | None
    ) -> torch.Tensor | None:
        """Run the hooks in order; the new image, or None if none of them changed it."""
        changed = False
        for hook in self.hooks:
            y = hook(step, x, grad)
            if y is not None:
                x, changed = y, True
        return x if changed else None


def build_transforms(cfg: DictConfig | dict | None) -> TransformStack:
    """The stack for a ``transforms`` config (None or empty: no transforms); checked by
    :mod:`vizlab.transforms.schema`, plugin types included (see build.py)."""
    from vizlab.transforms.build import build_stack

    return build_stack(cfg)
