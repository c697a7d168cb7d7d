"""Turning attributions into pictures: normalized heatmaps, colour maps, overlays on the photo
and signed RGB "gradient images", all as N x 3 x H x W tensors in [0, 1]."""

from __future__ import annotations

import torch
from torch import Tensor

from vizlab.plotting import colorize, heat_overlay

__all__ = ["colorize", "gradient_image", "normalize", "overlay", "signed"]


def normalize(maps: Tensor, percentile: float = 99.0) -> Tensor:
    """Per-image scaling of non-negative N x H x W maps to [0, 1], saturating the top
    (100 - percentile) % (SmoothGrad's display, Smilkov et al. Sect. 3.1)."""
    flat = maps.detach().float().clamp(min=0).flatten(1)
    top = torch.quantile(flat, percentile / 100, dim=1) if percentile < 100 else flat.amax(1)
    top = torch.where(top > 0, top, flat.amax(1)).clamp_min(1e-12)
    return (flat / top.unsqueeze(1)).clamp(0, 1).view_as(maps)


def overlay(photos: Tensor, maps01: Tensor, cmap: str = "jet", alpha: float = 0.6) -> Tensor:
    """The coloured map blended over the photo, more opaque where the map is high."""
    return heat_overlay(photos, maps01, cmap, alpha)


def signed(maps: Tensor, cmap: str = "RdBu_r") -> Tensor:
    """Signed N x H x W maps on a symmetric diverging colour map (0 = white)."""
    scale = maps.detach().abs().flatten(1).amax(1).clamp_min(1e-12).view(-1, 1, 1)
    return colorize((maps.detach() / scale + 1) / 2, cmap)


def gradient_image(attributions: Tensor) -> Tensor:
    """An N x 3 x H x W attribution shown as an RGB image: zero mean, 0.1 per standard
    deviation around gray (the display of Springenberg et al. and Selvaraju et al.)."""
    a = attributions.detach().float().cpu()
    mean = a.flatten(1).mean(1).view(-1, 1, 1, 1)
    std = a.flatten(1).std(1).view(-1, 1, 1, 1)
    return ((a - mean) / (std + 1e-12) * 0.1 + 0.5).clamp(0, 1)
