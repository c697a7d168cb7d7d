"""Unsupervised segmentation of a saliency map with GrabCut (Simonyan et al. 2014, Sect. 3.1;
Rother et al. 2004): pixels above the ``fg_quantile`` of the saliency map seed the foreground
colour model, pixels below ``bg_quantile`` the background model (Simonyan et al. use the 95 %
and 30 % quantiles); the pixels in between start as probable foreground (above
``probable_quantile``) or probable background, and OpenCV's ``cv2.grabCut`` decides them.
The map is first blurred with a Gaussian of ``blur_sigma`` px (default 3; 0 thresholds the raw
map as the paper does): the gradient maps of EfficientNet-Lite0 are speckled, and unblurred
seeds scatter the mask into fragments (see the grabcut runs on the coffee photo)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from vizlab.attribution import GradCAM, channel_max_abs
from vizlab.attribution.display import colorize, normalize, overlay
from vizlab.attribution.explain import Explained, cam_layer
from vizlab.attribution.saliency import KINDS
from vizlab.attribution.segment import grabcut, seed_mask
from vizlab.methods.attribution_options import (
    SaliencyKnobs,
    attribute,
    check_class_index,
    explained,
)
from vizlab.methods.base import Method, Result, RunContext
from vizlab.plotting import grid, labelled_grid
from vizlab.schema import check_choice, check_positive, check_range, require

SOURCES = (*KINDS, "gradcam")
SEED_COLOURS = np.array([[0, 0, 0.6], [1, 0.9, 0], [0.45, 0.55, 1], [1, 0.55, 0.1]])
"""Display colours of cv2's labels GC_BGD, GC_FGD, GC_PR_BGD, GC_PR_FGD."""


@dataclass
class GrabCutOptions(SaliencyKnobs):
    name: str
    saliency: str
    class_index: int | None
    fg_quantile: float
    probable_quantile: float
    bg_quantile: float
    blur_sigma: float
    iterations: int
    percentile: float
    layer: str | None
    seed: int

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("saliency", self.saliency, SOURCES)
        check_class_index(self.class_index)
        bg, probable, fg = self.bg_quantile, self.probable_quantile, self.fg_quantile
        require(
            0 <= bg < probable < fg <= 1,
            "bg_quantile",
            bg,
            f"quantiles must satisfy 0 <= bg_quantile ({bg}) < probable_quantile ({probable}) "
            f"< fg_quantile ({fg}) <= 1 (Simonyan et al.: bg 0.30, fg 0.95)",
        )
        check_range("blur_sigma", self.blur_sigma, 0.0)
        check_positive("iterations", self.iterations, integer=True)
        check_range("percentile", self.percentile, 0.0, 100.0)


def saliency_map(ctx: RunContext, ex: Explained, opts: GrabCutOptions) -> torch.Tensor:
    """N x H x W non-negative saliency of the chosen source."""
    if opts.saliency == "gradcam":
        unit = None if ex.is_class else ctx.model.deepest(list(ctx.target.objective.layers))
        layer = cam_layer(ctx.model, opts.layer, unit)
        with GradCAM(ctx.model.module, ctx.model.resolve(layer), ex.forward) as cam:
            return cam.attribute(ex.inputs, ex.target)[:, 0].detach()
    return channel_max_abs(attribute(ctx, ex, opts.saliency, opts)[0])


class GrabCut(Method):
    name = "grabcut"
    description = "GrabCut segmentation seeded by a saliency map (Simonyan et al. Sect. 3.1)"
    Options = GrabCutOptions

    def run(self, ctx: RunContext) -> Result:
        opts: GrabCutOptions = ctx.options
        source = opts.saliency
        fg, probable, bg = opts.fg_quantile, opts.probable_quantile, opts.bg_quantile
        ex = explained(ctx, opts.class_index)
        start = time.perf_counter()
        sal = saliency_map(ctx, ex, opts)
        blur = opts.blur_sigma
        if blur > 0:
            from torchvision.transforms.functional import gaussian_blur

            k = int(2 * round(3 * blur) + 1)
            sal = gaussian_blur(sal.unsqueeze(1), [k, k], [blur, blur])[:, 0]
        saliency_seconds = time.perf_counter() - start
        photos = ex.photos.permute(0, 2, 3, 1).cpu().numpy()
        sal_np = sal.cpu().numpy()
        start = time.perf_counter()
        seeds = [seed_mask(s, fg, probable, bg) for s in sal_np]
        masks = [grabcut(p, s, opts.iterations, opts.seed) for p, s in zip(photos, seeds)]
        grabcut_seconds = time.perf_counter() - start
        mask_t = torch.from_numpy(np.stack(masks)).float()
        seed_rgb = torch.from_numpy(SEED_COLOURS[np.stack(seeds)]).permute(0, 3, 1, 2).float()
        heat = normalize(sal, opts.percentile).cpu()
        masked = ex.photos.cpu() * mask_t.unsqueeze(1)
        mask_rgb = mask_t.unsqueeze(1).expand(-1, 3, -1, -1)
        metrics = {
            **ex.metrics,
            "saliency": source,
            "fraction_kept": float(mask_t[0].mean()),
            "seed_fraction_fg": float((seeds[0] == 1).mean()),
            "seed_fraction_bg": float((seeds[0] == 0).mean()),
            "saliency_seconds": saliency_seconds,
            "grabcut_seconds": grabcut_seconds,
        }
        for name, m in list(zip(ex.names, mask_t))[1:]:
            metrics[f"{name}_fraction_kept"] = float(m.mean())
        rows, labels = [], []
        for i, name in enumerate(ex.names):
            rows += [ex.photos[i].cpu(), overlay(ex.photos[i : i + 1], heat[i : i + 1])[0]]
            rows += [seed_rgb[i], mask_rgb[i], masked[i]]
            labels += [
                f"{name}: {ex.labels[i]}"[:42],
                f"{source} saliency",
                "seeds: fg yellow, bg navy",
                f"GrabCut mask ({100 * float(mask_t[i].mean()):.0f}% kept)",
                "masked photo",
            ]
        n = len(ex.names)
        title = f"GrabCut on {source} saliency of {ex.labels[0]} ({ctx.model.name})"
        return Result(
            images={
                "mask": grid(mask_rgb, n),
                "masked_photo": grid(masked, n),
                "seeds": grid(seed_rgb, n),
                "saliency_heatmap": grid(colorize(heat), n),
            },
            metrics=metrics,
            figures={"grabcut": labelled_grid(torch.stack(rows), labels, 5, title)},
            tensors={"mask": mask_t, "saliency": sal.cpu()},
        )
