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
    IDENTITY,
    Generators,
    Jitter,
    Pad,
    RandomCrop,
    RandomRotate,
    RandomScale,
    compose,
    fit,
    resample,
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


_AFFINE = (Jitter, RandomScale, RandomRotate)


def _affine_run(items: list[Callable], start: int) -> int | None:
    """End (exclusive) of the run ``items[start:end]`` that one resampling can apply: a
    constant pad, then jitters no wider than the pad (so their reflected border is still the
    pad colour) and zooms and rotations filling with the pad colour, with at least one zoom or
    rotation (pad and jitters alone are cheap copies). None when there is no such run."""
    pad = items[start]
    if type(pad) is not Pad or pad.mode != "constant" or pad.width <= 0:
        return None
    end, resamples = start + 1, 0
    while end < len(items) and type(items[end]) in _AFFINE:
        t = items[end]
        if isinstance(t, Jitter) and (
            t.pixels // 2 >= pad.width or (t.mode == "constant" and pad.value != 0)
        ):
            break
        if not isinstance(t, Jitter):
            if t.fill != pad.value:
                break
            resamples += 1
        end += 1
    return end if resamples else None


@dataclass
class TransformStack:
    """Input transforms (in order) and post-step hooks, from the ``transforms`` config."""

    transforms: list[Callable] = field(default_factory=list)
    hooks: list[Callable] = field(default_factory=list)

    def __call__(
        self, x: torch.Tensor, generators: Generators = None, size: tuple[int, int] | None = None
    ) -> torch.Tensor:
        """The transformed images; with ``size`` (H, W) also centre-cropped to it, as
        :func:`~vizlab.transforms.spatial.fit` would (cheaper: only those pixels are made).

        A run of transforms that starts with a constant :class:`Pad` and goes on with
        jitters, zooms and rotations of the same fill is one affine map per image, so it is
        applied as one resampling of the unpadded image (lucid's standard stack costs one
        ``grid_sample`` instead of four copies and two resamplings). The random draws and the
        maps are those of the transforms applied one by one; the pixels differ only in one
        bilinear interpolation instead of one per zoom or rotation, and in that the image
        lies on an unbounded canvas of the pad colour (image content that a rotation moves
        past the padded canvas' edge is not cut off there, nor reflected back by a jitter)."""
        streams = [None] * x.shape[0] if generators is None else list(generators)
        items = self.transforms
        i = 0
        while i < len(items):
            end = _affine_run(items, i)
            if end is None:
                x = items[i](x, generators)
                i += 1
                continue
            pad = items[i]
            canvas = (x.shape[-2] + 2 * pad.width, x.shape[-1] + 2 * pad.width)
            maps = [IDENTITY] * x.shape[0]
            for transform in items[i + 1 : end]:
                maps = [compose(m, t) for m, t in zip(maps, transform.inverse_maps(streams))]
            out = canvas
            if end == len(items) and size is not None and all(s <= c for s, c in zip(size, canvas)):
                out = (int(size[0]), int(size[1]))
                # fit's crop corner ((C - S) // 2) relative to the centre, in pixels
                shift = tuple(((c - s) // 2 - (c - s) / 2) for c, s in zip(canvas, out))
                maps = [compose(m, (1.0, 0.0, shift[1], 0.0, 1.0, shift[0])) for m in maps]
            x = resample(x, maps, out, pad.value)
            i = end
        return x if size is None else fit(x, size)

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
