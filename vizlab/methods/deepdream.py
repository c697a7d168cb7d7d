"""DeepDream (Mordvintsev, Olah & Tyka 2015; lecture 21.10): amplify what a layer already sees
in a photo by gradient ascent on ||phi(I)||^2 of ``target.layer``.

The photo is processed at ``octaves`` successively larger scales (factor ``octave_scale``):
at each scale the image (the photo at that scale plus the detail dreamed so far, upsampled)
takes ``iterations`` normalized gradient steps I <- I + step * g / mean|g|, each on a randomly
rolled copy (jitter), clipped to the valid range [0, 1]; the dreamed detail (image minus the
photo) is carried to the next scale. Any target works (``target=channel`` dreams one
channel); the default ``target=layer`` is DeepDream's layer energy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from vizlab.methods.base import Method, Result, RunContext
from vizlab.methods.preimage import options_of
from vizlab.models.wrapper import VisionModel
from vizlab.plotting import curves, grid, labelled_grid
from vizlab.schema import check_positive, check_range, require
from vizlab.targets import Objective

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


@torch.no_grad()
def _score(model: VisionModel, objective: Objective, images: torch.Tensor) -> torch.Tensor:
    feats = model.features(model.units.unit_to_model(images.to(model.device)), objective.layers)
    return objective(feats).cpu()


@dataclass
class DeepDreamOptions:
    """``octaves`` >= 1 scales (factor ``octave_scale`` > 1), ``iterations`` >= 1 steps of
    ``step_size`` > 0 per octave, random rolls of up to ``jitter`` >= 0 pixels."""

    name: str
    octaves: int
    octave_scale: float
    iterations: int
    step_size: float
    jitter: int
    seed: int

    def __post_init__(self) -> None:
        check_positive("octaves", self.octaves, integer=True)
        check_positive("iterations", self.iterations, integer=True)
        check_range("octave_scale", self.octave_scale, 1.0, 100.0)
        require(self.octave_scale > 1, "octave_scale", self.octave_scale, "must be > 1")
        check_positive("step_size", self.step_size)
        check_positive("jitter", self.jitter, integer=True, allow_zero=True)


class DeepDream(Method):
    name = "deepdream"
    description = "Amplify a layer's response to a photo at several octaves (Mordvintsev 2015)"
    Options = DeepDreamOptions

    def run(self, ctx: RunContext) -> Result:
        opts, model, target = options_of(ctx, DeepDreamOptions), ctx.model, ctx.target
        octaves, iterations = opts.octaves, opts.iterations
        scale, step, jitter = opts.octave_scale, opts.step_size, opts.jitter
        photos = ctx.references.images
        objective = target.objective
        dreams, history, sizes = dream(
            model,
            photos,
            objective,
            octaves=octaves,
            octave_scale=scale,
            iterations=iterations,
            step_size=step,
            jitter=jitter,
            generator=torch.Generator().manual_seed(opts.seed),
            progress=ctx.progress,
        )
        before, after = _score(model, objective, photos), _score(model, objective, dreams)
        dreams = dreams.cpu()
        pairs = torch.stack([photos.cpu(), dreams], 1).flatten(0, 1)
        labels = [
            text
            for i, name in enumerate(ctx.references.names)
            for text in (f"{name}\n{objective}: {before[i]:.3g}", f"dream\n{after[i]:.3g}")
        ]
        metrics = {
            "layer": target.layer,
            "layer_depth": model.depth(target.layer),
            "objective_before": float(before.mean()),
            "objective_after": float(after.mean()),
            "objective_ratio": float((after / before.clamp_min(1e-12)).mean()),
            "objective_before_per_image": before.tolist(),
            "objective_after_per_image": after.tolist(),
            "octave_sizes": [list(s) for s in sizes],
            "change_linf_mean": float((dreams - photos.cpu()).flatten(1).abs().amax(1).mean()),
        }
        return Result(
            images={"comparison": grid(pairs, nrow=2), "dream": grid(dreams, nrow=1)},
            metrics=metrics,
            figures={
                "comparison_labelled": labelled_grid(
                    pairs, labels, 2, f"DeepDream on {model.name}: {objective}", 3.0
                ),
                "objective": curves(history, "DeepDream objective (per step, all octaves)"),
            },
            tensors={"dream": dreams, "original": photos.cpu()},
            history=history,
        )
