"""Gradient saliency maps: vanilla gradient (Simonyan et al. 2014), guided backpropagation
(Springenberg et al. 2015; rule for SiLU/GELU in vizlab.attribution.guided), SmoothGrad
(Smilkov et al. 2017) and Integrated Gradients (Sundararajan et al. 2017) of a class score
(the top-1 class by default) or of a unit target (target=channel, token_dim, ...), shown as
max |.| over colour channels."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from vizlab.attribution import channel_max_abs
from vizlab.attribution.display import colorize, gradient_image, normalize, overlay
from vizlab.attribution.saliency import KINDS
from vizlab.methods.attribution_options import (
    SaliencyKnobs,
    attribute,
    check_class_index,
    explained,
)
from vizlab.methods.base import Method, Result, RunContext
from vizlab.plotting import grid, labelled_grid
from vizlab.schema import check_range, require


def parse_kinds(value: Any) -> list[str]:
    """``all``, one kind, or a list of kinds -> list of kinds (unknown names raise
    :class:`vizlab.schema.OptionError`)."""
    if value in (None, "all"):
        return list(KINDS)
    kinds = [value] if isinstance(value, str) else list(value)
    require(
        bool(kinds) and all(k in KINDS for k in kinds),
        "kind",
        value,
        f"must be one of {', '.join(KINDS)}, a list of them (e.g. [gradient,smoothgrad]) or all",
    )
    return kinds


@dataclass
class SaliencyOptions(SaliencyKnobs):
    name: str
    kind: Any  # a kind, a list of kinds, or all
    class_index: int | None
    percentile: float
    seed: int

    def __post_init__(self) -> None:
        super().__post_init__()
        parse_kinds(self.kind)
        check_class_index(self.class_index)
        check_range("percentile", self.percentile, 0.0, 100.0)


class Saliency(Method):
    name = "saliency"
    description = "Gradient, guided backprop, SmoothGrad, Integrated Gradients saliency maps"
    Options = SaliencyOptions

    def run(self, ctx: RunContext) -> Result:
        opts: SaliencyOptions = ctx.options
        kinds = parse_kinds(opts.kind)
        ex = explained(ctx, opts.class_index)
        metrics = dict(ex.metrics)
        rows, labels, images, tensors = [], [], {}, {}
        per_kind: dict[str, tuple[Tensor, Tensor, Tensor]] = {}
        last_label: dict[str, str] = {}
        for kind in kinds:
            start = time.perf_counter()
            attr, extra = attribute(ctx, ex, kind, opts)
            metrics[f"{kind}_seconds"] = time.perf_counter() - start
            metrics.update(extra)
            heat = normalize(channel_max_abs(attr), opts.percentile)
            # squared SmoothGrad has no sign: its last panel is the colour-mapped map instead
            squared = kind == "smoothgrad" and opts.squared
            last = colorize(heat) if squared else gradient_image(attr)
            last_label[kind] = f"{kind} (mean squared)" if squared else f"{kind} (RGB)"
            per_kind[kind] = (heat, overlay(ex.photos, heat), last)
            n = len(ex.names)
            images[f"{kind}_heatmap"] = grid(_gray(heat), nrow=n)
            images[f"{kind}_overlay"] = grid(per_kind[kind][1], nrow=n)
            images[f"{kind}_rgb"] = grid(per_kind[kind][2], nrow=n)
            tensors[kind] = attr.cpu()
        for i, name in enumerate(ex.names):
            for kind in kinds:
                heat, over, rgb = per_kind[kind]
                rows += [ex.photos[i].cpu(), _gray(heat[i : i + 1])[0], over[i], rgb[i]]
                labels += [
                    f"{name}: {ex.labels[i]}"[:42],
                    f"{kind} max|.| over RGB",
                    f"{kind} overlay",
                    last_label[kind],
                ]
        figure = labelled_grid(
            torch.stack(rows), labels, 4, f"Saliency of {ex.labels[0]} ({ctx.model.name})"
        )
        return Result(images=images, metrics=metrics, figures={"saliency": figure}, tensors=tensors)


def _gray(maps01: Tensor) -> Tensor:
    """N x H x W in [0, 1] -> N x 3 x H x W gray images (white = salient, as in Simonyan)."""
    return maps01.detach().float().cpu().unsqueeze(1).expand(-1, 3, -1, -1)
