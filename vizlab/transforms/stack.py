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
from omegaconf import DictConfig, OmegaConf

from vizlab.errors import VizlabError, format_choices
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
    """The stack for a ``transforms`` config (None or empty: no transforms)."""
    stack = TransformStack()
    if not cfg:
        return stack
    entries = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg
    assert isinstance(entries, dict)
    known = sorted(TRANSFORMS) + sorted(HOOKS)
    for key, entry in entries.items():
        params = dict(entry or {})
        if params.pop("enabled", True) is False:
            continue
        kind = params.pop("type", key)
        if kind not in TRANSFORMS and kind not in HOOKS:
            raise VizlabError(
                f"'transforms.{key}' has unknown type '{kind}'. Known types: "
                f"{format_choices(known)} (set `type:` when the key is not a type name)."
            )
        cls = TRANSFORMS.get(kind) or HOOKS[kind]
        try:
            item = cls(**params)
        except TypeError as err:
            raise VizlabError(
                f"Bad parameters for transforms.{key} (type {kind}): {err}. Valid: "
                f"{format_choices(cls.__dataclass_fields__)}."
            ) from err
        (stack.transforms if kind in TRANSFORMS else stack.hooks).append(item)
    return stack
