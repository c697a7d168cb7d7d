"""DeepDream (Mordvintsev, Olah & Tyka 2015): amplify what a network already sees in a photo
by normalized gradient ascent on an objective, at several octaves of increasing size.

At each scale the image (the photo at that scale plus the detail dreamed so far, upsampled)
takes ``iterations`` steps I <- I + step * g / mean|g|, each on a randomly rolled copy
(jitter), clipped to [0, 1]; the dreamed detail (image minus the photo) is carried to the next
scale.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from vizlab.models.wrapper import VisionModel
from vizlab.targets.objectives import Objective

log = logging.getLogger(__name__)


def _patch(model: VisionModel) -> int:
    """Side lengths must be multiples of this (a ViT's patch size; 1 for CNNs)."""
    if not model.is_vit:
        return 1
    p = model.module.patch_embed.patch_size
    return int(p[0] if isinstance(p, (tuple, list)) else p)


def _takes_any_size(model: VisionModel) -> bool:
    """CNNs take any size; a timm ViT only with ``dynamic_img_size``."""
    if not model.is_vit:
        return not getattr(model.module, "pretrained_cfg", {}).get("fixed_input_size", False)
    return bool(getattr(model.module, "dynamic_img_size", False))


def octave_sizes(
    size: tuple[int, int], octaves: int, scale: float, multiple: int = 1, minimum: int = 16
) -> list[tuple[int, int]]:
    """Image sizes from the smallest octave to ``size`` (each side / scale^k, rounded to a
    ``multiple``; octaves smaller than ``minimum`` pixels are dropped)."""
    h, w = size
    out: list[tuple[int, int]] = []
    for k in range(octaves - 1, -1, -1):
        f = scale**k
        sh = max(multiple, round(h / f / multiple) * multiple)
        sw = max(multiple, round(w / f / multiple) * multiple)
        if k and min(sh, sw) < minimum:
            continue
        if (sh, sw) not in out:
            out.append((sh, sw))
    if out[-1] != (h, w):
        out.append((h, w))
    return out


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


def dream(
    model: VisionModel,
    photos: torch.Tensor,
    objective: Objective,
    octaves: int = 4,
    octave_scale: float = 1.4,
    iterations: int = 10,
    step_size: float = 0.01,
    jitter: int = 32,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> tuple[torch.Tensor, dict[str, list[float]], list[tuple[int, int]]]:
    """DeepDream images of ``photos`` (N x 3 x H x W in [0, 1]), the per-step mean objective,
    and the octave sizes used. ``jitter`` is the largest roll in pixels at full size (scaled
    down with the octave)."""
    photos = photos.detach().to(model.device)
    full = tuple(photos.shape[-2:])
    if _takes_any_size(model):
        sizes = octave_sizes(full, octaves, octave_scale, _patch(model), minimum=2 * _patch(model))
    else:
        if octaves > 1:
            log.warning("%s takes one input size only; DeepDream runs a single octave", model.name)
        sizes = [full]
    layers = list(objective.layers)
    history: dict[str, list[float]] = {"objective": []}
    detail = torch.zeros_like(_resize(photos, sizes[0]))
    bar = tqdm(total=len(sizes) * iterations, desc="deepdream", disable=not progress, leave=False)
    image = photos
    for size in sizes:
        base = _resize(photos, size)
        image = (base + _resize(detail, size)).clamp(0, 1)
        roll = max(0, round(jitter * size[0] / full[0]))
        for _ in range(iterations):
            oy, ox = (
                (int(v) for v in torch.randint(-roll, roll + 1, (2,), generator=generator))
                if roll
                else (0, 0)
            )
            shifted = image.roll((oy, ox), dims=(-2, -1)).requires_grad_(True)
            score = objective(model.features(model.units.unit_to_model(shifted), layers))
            (grad,) = torch.autograd.grad(score.sum(), shifted)
            with torch.no_grad():
                scale = grad.abs().flatten(1).mean(1).clamp_min(1e-12).view(-1, 1, 1, 1)
                shifted = shifted + step_size * grad / scale
                image = shifted.roll((-oy, -ox), dims=(-2, -1)).clamp(0, 1).detach()
            history["objective"].append(float(score.detach().mean()))
            bar.update()
            bar.set_postfix(
                size=f"{size[0]}x{size[1]}", objective=f"{history['objective'][-1]:.4g}"
            )
        detail = image - base
    bar.close()
    return image.detach(), history, sizes
