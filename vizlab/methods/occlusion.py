"""Occlusion sensitivity (Zeiler & Fergus 2014, Sect. 4.2): slide a baseline patch over the
photo and map the drop of the class probability (or logit, or unit score).

The occluded images are evaluated ``method.batch_size`` at a time; ``auto`` means 4 images per
forward pass on the CPU and 64 on a GPU (the CPU choice is measured by
``benchmarks/attribution.py --occlusion-batch-sizes``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from vizlab.attribution import Occlusion as OcclusionAttribution
from vizlab.attribution.display import normalize, overlay, signed
from vizlab.attribution.explain import baseline
from vizlab.attribution.occlusion import occlusion_masks
from vizlab.errors import VizlabError
from vizlab.methods.attribution_options import check_baseline, check_class_index, explained
from vizlab.methods.base import Method, Result, RunContext
from vizlab.plotting import grid, labelled_grid
from vizlab.schema import check_choice, check_positive, require

SCORES = ("probability", "logit")


@dataclass
class OcclusionOptions:
    name: str
    patch: int
    stride: int
    baseline: Any  # a baseline name or a gray level in [0, 1]
    score: str
    class_index: int | None
    batch_size: Any  # auto or a whole number
    seed: int

    def __post_init__(self) -> None:
        check_positive("patch", self.patch, integer=True)
        check_positive("stride", self.stride, integer=True)
        require(
            self.stride <= self.patch,
            "stride",
            self.stride,
            f"must be <= method.patch ({self.patch}) so that every pixel is occluded at least once",
        )
        check_baseline(self.baseline)
        check_choice("score", self.score, SCORES)
        check_class_index(self.class_index)
        if self.batch_size != "auto":
            check_positive("batch_size", self.batch_size, integer=True)


def batch_size(value: Any, device: torch.device) -> int:
    """``auto`` (4 on CPU, 64 on GPU) or the given number of occluded images per pass."""
    if value == "auto":
        return 4 if device.type == "cpu" else 64
    return int(value)


class Occlusion(Method):
    name = "occlusion"
    description = "Occlusion sensitivity: score drop under a sliding patch (Zeiler & Fergus)"
    Options = OcclusionOptions

    def run(self, ctx: RunContext) -> Result:
        opts: OcclusionOptions = ctx.options
        model = ctx.model
        ex = explained(ctx, opts.class_index)
        h, w = ex.inputs.shape[-2:]
        patch, stride = opts.patch, opts.stride
        if patch > min(h, w):
            raise VizlabError(
                f"method.patch={patch} must be in 1..{min(h, w)} (the image is {h}x{w} px)."
            )
        batch = batch_size(opts.batch_size, ex.inputs.device)
        forward = ex.forward
        if opts.score == "probability" and ex.is_class:

            def forward(x):
                return ex.forward(x).softmax(-1)

        base = baseline(model.units, opts.baseline, ex.inputs, ex.photos)
        occlusion = OcclusionAttribution(forward)
        windows = occlusion_masks(h, w, (patch, patch), (stride, stride)).shape[0]
        start = time.perf_counter()
        drop = occlusion.attribute(
            ex.inputs, ex.target, patch, stride, baselines=base, batch_size=batch
        )[:, 0]
        seconds = time.perf_counter() - start
        with torch.no_grad():
            reference = occlusion.scores(ex.inputs, ex.target)
        metrics = {
            **ex.metrics,
            "score": opts.score if ex.is_class else "unit",
            "patch": patch,
            "stride": stride,
            "baseline": str(opts.baseline),
            "windows": windows,
            "batch_size": batch,
            "forward_passes": len(ex.inputs) * -(-windows // batch),  # per image, in turn
            "seconds": seconds,
            "reference_score": float(reference[0]),
            "max_drop": float(drop[0].max()),
            "min_drop": float(drop[0].min()),
        }
        positive = normalize(drop, percentile=100.0)
        diverging = signed(drop)
        over = overlay(ex.photos, positive)
        rows, labels = [], []
        for i, name in enumerate(ex.names):
            rows += [ex.photos[i].cpu(), diverging[i], over[i]]
            labels += [
                f"{name}: {ex.labels[i]}"[:42],
                f"drop of {metrics['score']} (red +, blue -)",
                "overlay (drop > 0)",
            ]
        title = (
            f"Occlusion {patch}px/{stride}px, baseline {metrics['baseline']} ({model.name}): "
            f"{windows} windows"
        )
        n = len(ex.names)
        return Result(
            images={"occlusion_map": grid(diverging, nrow=n), "occlusion_overlay": grid(over, n)},
            metrics=metrics,
            figures={"occlusion": labelled_grid(torch.stack(rows), labels, 3, title)},
            tensors={"drop": drop.cpu()},
        )
