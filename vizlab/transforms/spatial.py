"""Random input transforms applied to the image every step (Olah et al. 2017, lucid
``optvis/transform.py``; the AM paper's "random transformations"), so the visualization must
work under small shifts, zooms and rotations instead of exploiting pixel-exact patterns.

Each transform is a plain callable ``t(x, generators) -> x`` on N x 3 x H x W images (paper
units; 0 is the mean colour, so constant fill values default to 0). Random parameters are
drawn per image from ``generators[i]`` (None: torch's global generator), so an image's
transforms do not depend on the rest of the batch. All keep N x 3 x H x W except ``Pad``;
the engine centre-crops the result back to the network's input size.

Pad, jitter, scale and rotate are also affine maps: each gives, per image, the map from its
output pixels to its input pixels (:meth:`inverse_maps`, drawing the same random numbers as
its call), so a stack can compose a run of them and resample the image once
(:func:`resample`, one ``grid_sample``) instead of once per transform.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

Generators = Sequence[torch.Generator | None] | None
Affine = tuple[float, float, float, float, float, float]
"""(a, b, tx, c, d, ty): input = [[a, b], [c, d]] output + (tx, ty), in pixel coordinates
centred on the image (x right, y down), from an output pixel to where it samples its input."""
IDENTITY: Affine = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


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
        shifts = self.offsets(_streams(generators, x.shape[0]))
        if len(set(shifts)) == 1:  # one view for the whole batch (always so for one image)
            dy, dx = shifts[0]
            return padded[:, :, dy : dy + h, dx : dx + w]
        return torch.cat(
            [padded[i : i + 1, :, dy : dy + h, dx : dx + w] for i, (dy, dx) in enumerate(shifts)]
        )

    def offsets(self, streams: list[torch.Generator | None]) -> list[tuple[int, int]]:
        """Per image (dy, dx) in [0, pixels): the crop corner in the padded image."""
        return [(_randint(g, self.pixels), _randint(g, self.pixels)) for g in streams]

    def inverse_maps(self, streams: list[torch.Generator | None]) -> list[Affine]:
        """Per image, the translation this jitter applies (same draws as a call)."""
        if self.pixels <= 1:
            return [IDENTITY] * len(streams)
        before = self.pixels // 2
        return [
            (1.0, 0.0, float(dx - before), 0.0, 1.0, float(dy - before))
            for dy, dx in self.offsets(streams)
        ]


def _rotation_zoom(angle: float, scale: float) -> Affine:
    """The inverse map of torchvision's ``affine(angle, scale)`` about the centre (its
    ``_get_inverse_affine_matrix`` without shear or translation)."""
    c, s = math.cos(math.radians(angle)) / scale, math.sin(math.radians(angle)) / scale
    return (c, s, 0.0, -s, c, 0.0)


def compose(first: Affine, then: Affine) -> Affine:
    """The inverse map of applying the transform of ``first`` and then that of ``then``:
    an output pixel goes back through ``then``'s map, then through ``first``'s."""
    a1, b1, x1, c1, d1, y1 = first
    a2, b2, x2, c2, d2, y2 = then
    return (
        a1 * a2 + b1 * c2,
        a1 * b2 + b1 * d2,
        a1 * x2 + b1 * y2 + x1,
        c1 * a2 + d1 * c2,
        c1 * b2 + d1 * d2,
        c1 * x2 + d1 * y2 + y1,
    )


_AXES: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def _axes(h: int, w: int, device: torch.device, dtype: torch.dtype):
    """Centred pixel coordinates, x as 1 x 1 x W and y as 1 x H x 1, cached per size (made in
    normal mode, so autograd may use them under ``torch.inference_mode`` too)."""
    key = (h, w, device, dtype)
    if key not in _AXES:
        with torch.inference_mode(False):
            xs = torch.arange(w, dtype=dtype, device=device) - (w - 1) / 2
            ys = torch.arange(h, dtype=dtype, device=device) - (h - 1) / 2
        _AXES[key] = xs.view(1, 1, w), ys.view(1, h, 1)
    return _AXES[key]


def _to_device(values: list, like: torch.Tensor) -> torch.Tensor:
    """A small tensor of Python numbers (drawn from the host's seeded generators) on ``like``'s
    device and dtype. On a GPU it goes from page-locked host memory, asynchronously: a copy
    from ordinary host memory would make the host wait for the GPU's queue every step."""
    host = torch.tensor(values, dtype=like.dtype, device="cpu")
    if like.device.type == "cpu":
        return host
    if like.device.type == "cuda":
        host = host.pin_memory()
    return host.to(like.device, non_blocking=True)


def resample(
    x: torch.Tensor, maps: Sequence[Affine], size: tuple[int, int], fill: float = 0.0
) -> torch.Tensor:
    """Images ``x`` seen through per-image inverse maps, ``size`` (H, W) output pixels, in one
    bilinear ``grid_sample``; outside the image is ``fill`` (a canvas of that colour)."""
    n, _, h, w = x.shape
    oh, ow = int(size[0]), int(size[1])
    # per image and grid component (x, then y): its value at the centre, per output x and per
    # output y, in grid_sample's normalized input coordinates (align_corners=False: 2 c / W)
    coefficients = _to_device(
        [[[tx * 2 / w, a * 2 / w, b * 2 / w], [ty * 2 / h, c * 2 / h, d * 2 / h]]
         for a, b, tx, c, d, ty in maps],
        x,
    ).view(n * 2, 3, 1, 1)  # fmt: skip
    # each component a plane t + x a + y b over the output pixels (x, y): two multiply-adds
    # over contiguous rows (the interleaved N x H x W x 2 layout of the grid is a view of the
    # planes; built in that layout, the broadcast over its last axis of two is not vectorized)
    xs, ys = _axes(oh, ow, x.device, x.dtype)
    t, a, b = coefficients.unbind(1)  # (one call for the three views)
    planes = torch.addcmul(torch.addcmul(t, xs, a), ys, b)
    grid = planes.view(n, 2, oh, ow).permute(0, 2, 3, 1)
    source = x - fill if fill else x
    out = _Bilinear.apply(source, grid) if source.requires_grad else _bilinear(source, grid)
    return out + fill if fill else out


def _bilinear(x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class _Bilinear(torch.autograd.Function):
    """Bilinear ``grid_sample`` (zero padding) on a fixed grid, without keeping the image for
    the backward: the image's gradient, each output pixel's gradient spread over its four
    neighbours by their weights, does not depend on the image, but torch's kernel reads the
    image anyway (for the grid's gradient), and in a step the image has long left the cache
    by then. Its backward is given a stand-in of zero strides instead: the same gradient to
    the bit, one image fewer read from memory per step (about 160 us on this CPU)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(grid)
        ctx.shape = x.shape
        return _bilinear(x, grid)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (grid,) = ctx.saved_tensors
        stand_in = grad.new_zeros(()).expand(ctx.shape)
        # interpolation 0 = bilinear, padding 0 = zeros, align_corners False; input only
        grad_x, _ = torch.ops.aten.grid_sampler_2d_backward(
            grad, stand_in, grid, 0, 0, False, [True, False]
        )
        return grad_x, None


@dataclass
class RandomScale:
    """Zoom about the centre by a factor uniform in [low, high] (lucid ``random_scale``, which
    draws from 0.9 ... 1.1); the size is kept, uncovered pixels get ``fill``."""

    low: float = 0.9
    high: float = 1.1
    fill: float = 0.0

    def __call__(self, x: torch.Tensor, generators: Generators = None) -> torch.Tensor:
        maps = self.inverse_maps(_streams(generators, x.shape[0]))
        return resample(x, maps, x.shape[-2:], self.fill)

    def inverse_maps(self, streams: list[torch.Generator | None]) -> list[Affine]:
        """Per image, the zoom about the centre (same draws as a call)."""
        return [_rotation_zoom(0.0, _uniform(g, self.low, self.high)) for g in streams]


@dataclass
class RandomRotate:
    """Rotate about the centre by an angle uniform in [-degrees, degrees] (lucid
    ``random_rotate``, +-10 degrees); the size is kept."""

    degrees: float = 10.0
    fill: float = 0.0

    def __call__(self, x: torch.Tensor, generators: Generators = None) -> torch.Tensor:
        maps = self.inverse_maps(_streams(generators, x.shape[0]))
        return resample(x, maps, x.shape[-2:], self.fill)

    def inverse_maps(self, streams: list[torch.Generator | None]) -> list[Affine]:
        """Per image, the rotation about the centre (same draws as a call)."""
        d = float(self.degrees)
        return [_rotation_zoom(_uniform(g, -d, d), 1.0) for g in streams]


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
            box = x[i : i + 1, :, top : top + ch, left : left + cw]
            out.append(F.interpolate(box, size=(h, w), mode="bilinear", align_corners=False))
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
