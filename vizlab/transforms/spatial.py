"""Random input transforms applied to the image every step (Olah et al. 2017, lucid
``optvis/transform.py``; the AM paper's "random transformations"), so the visualization must
work under small shifts, zooms and rotations instead of exploiting pixel-exact patterns.

Each transform is a plain callable ``t(x, generators) -> x`` on N x 3 x H x W images (paper
units; 0 is the mean colour, so constant fill values default to 0). Random parameters are
drawn per image from ``generators[i]`` (None: torch's global generator), so an image's
transforms do not depend on the rest of the batch. All keep N x 3 x H x W except ``Pad``;
the engine centre-crops the result back to the network's input size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from torchvision.transforms import InterpolationMode

Generators = Sequence[torch.Generator | None] | None


def _streams(generators: Generators, n: int) -> list[torch.Generator | None]:
    return [None] * n if generators is None else list(generators)


def _uniform(g: torch.Generator | None, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=g))


def _randint(g: torch.Generator | None, n: int) -> int:
    return int(torch.randint(0, n, (), generator=g))


@dataclass
class Pad:
    """Grow every side by ``width`` pixels (lucid ``pad``); random shifts and rotations then
    move this border, not the image content, into view."""

    width: int = 12
    mode: str = "constant"  # constant | reflect | replicate
    value: float = 0.0  # constant fill in paper units (0 = mean colour)

    def __call__(self, x: torch.Tensor, generators: Generators = None) -> torch.Tensor:
        if self.width <= 0:
            return x
        mode = self.mode
        if mode == "reflect" and self.width >= min(x.shape[-2:]):
            mode = "replicate"
        value = self.value if mode == "constant" else None
        return F.pad(x, [self.width] * 4, mode=mode, value=value)


@dataclass
class Jitter:
    """Random integer translation with ``pixels`` possible offsets per axis (lucid
    ``jitter(d)``), centred: offsets in [-(pixels // 2), (pixels - 1) // 2]. The border is
    filled by ``mode`` padding; the size is kept."""

    pixels: int = 8
    mode: str = "reflect"  # reflect | replicate | constant (0)

    def __call__(self, x: torch.Tensor, generators: Generators = None) -> torch.Tensor:
        if self.pixels <= 1:
            return x
        before, after = self.pixels // 2, (self.pixels - 1) // 2
        mode = self.mode
        if mode == "reflect" and max(before, after) >= min(x.shape[-2:]):
            mode = "replicate"
        padded = F.pad(x, (before, after, before, after), mode=mode)
        h, w = x.shape[-2:]
        out = []
        for i, g in enumerate(_streams(generators, x.shape[0])):
            dy, dx = _randint(g, self.pixels), _randint(g, self.pixels)
            out.append(padded[i : i + 1, :, dy : dy + h, dx : dx + w])
        return torch.cat(out)


def _affine(x: torch.Tensor, angle: float, scale: float, fill: float) -> torch.Tensor:
    """Rotate by ``angle`` degrees and zoom by ``scale`` about the centre (torchvision)."""
    return TF.affine(
        x,
        angle=angle,
        translate=[0, 0],
        scale=scale,
        shear=[0.0, 0.0],
        interpolation=InterpolationMode.BILINEAR,
        fill=fill,
    )


@dataclass
class RandomScale:
    """Zoom about the centre by a factor uniform in [low, high] (lucid ``random_scale``, which
    draws from 0.9 ... 1.1); the size is kept, uncovered pixels get ``fill``."""

    low: float = 0.9
    high: float = 1.1
    fill: float = 0.0

    def __call__(self, x: torch.Tensor, generators: Generators = None) -> torch.Tensor:
        streams = _streams(generators, x.shape[0])
        return torch.cat(
            [
                _affine(x[i : i + 1], 0.0, _uniform(g, self.low, self.high), self.fill)
                for i, g in enumerate(streams)
            ]
        )


@dataclass
class RandomRotate:
    """Rotate about the centre by an angle uniform in [-degrees, degrees] (lucid
    ``random_rotate``, +-10 degrees); the size is kept."""

    degrees: float = 10.0
    fill: float = 0.0

    def __call__(self, x: torch.Tensor, generators: Generators = None) -> torch.Tensor:
        streams = _streams(generators, x.shape[0])
        d = float(self.degrees)
        return torch.cat(
            [
                _affine(x[i : i + 1], _uniform(g, -d, d), 1.0, self.fill)
                for i, g in enumerate(streams)
            ]
        )


@dataclass
class RandomCrop:
    """Crop a random square-proportioned box whose sides are a fraction uniform in
    [low, high] of the image's, anywhere inside it, and resize it back to the full size
    (bilinear) -- MaCo's random crops (Fel et al. 2023)."""

    low: float = 0.5
    high: float = 1.0

    def __call__(self, x: torch.Tensor, generators: Generators = None) -> torch.Tensor:
        h, w = x.shape[-2:]
        out = []
        for i, g in enumerate(_streams(generators, x.shape[0])):
            f = _uniform(g, self.low, self.high)
            ch, cw = max(1, round(f * h)), max(1, round(f * w))
            top, left = _randint(g, h - ch + 1), _randint(g, w - cw + 1)
            out.append(TF.resized_crop(x[i : i + 1], top, left, ch, cw, [h, w], antialias=False))
        return torch.cat(out)


def fit(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Centre-crop (or, if smaller, bilinearly resize) images to ``size`` (H, W)."""
    h, w = x.shape[-2:]
    th, tw = int(size[0]), int(size[1])
    if (h, w) == (th, tw):
        return x
    if h >= th and w >= tw:
        top, left = (h - th) // 2, (w - tw) // 2
        return x[..., top : top + th, left : left + tw]
    return F.interpolate(x, size=(th, tw), mode="bilinear", align_corners=False)
