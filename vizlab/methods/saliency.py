"""Gradient saliency maps: vanilla gradient (Simonyan et al. 2014), guided backpropagation
(Springenberg et al. 2015; rule for SiLU/GELU in vizlab.attribution.guided), SmoothGrad
(Smilkov et al. 2017) and Integrated Gradients (Sundararajan et al. 2017) of a class score
(the top-1 class by default) or of a unit target (target=channel, token_dim, ...), shown as
max |.| over colour channels."""

from __future__ import annotations

import time

import torch
from omegaconf import DictConfig
from torch import Tensor

from vizlab.attribution import (
    Gradient,
    GuidedBackprop,
    IntegratedGradients,
    SmoothGrad,
    channel_max_abs,
)
from vizlab.attribution.display import colorize, gradient_image, normalize, overlay
from vizlab.attribution.explain import Explained, baseline, explained
from vizlab.attribution.integrated_gradients import METHODS
from vizlab.errors import VizlabError
from vizlab.methods.base import Method, Result, RunContext
from vizlab.plotting import grid, labelled_grid

KINDS = ("gradient", "guided_backprop", "smoothgrad", "integrated_gradients")


def parse_kinds(value, knob: str = "method.kind") -> list[str]:
    """``all``, one kind, or a list of kinds -> validated list."""
    if value in (None, "all"):
        return list(KINDS)
    kinds = [value] if isinstance(value, str) else list(value)
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise VizlabError(
            f"{knob}={value!r} is not valid. Choose one of {', '.join(KINDS)}, a list of them "
            f"(e.g. {knob}=[gradient,smoothgrad]) or all."
        )
    return kinds


def _check(cfg: DictConfig) -> None:
    if cfg.get("integration", "gausslegendre") not in METHODS:
        raise VizlabError(
            f"method.integration={cfg.integration!r} is not a quadrature rule; use one of "
            f"{', '.join(METHODS)} (captum's names; gausslegendre is captum's default)."
        )
    low = 1 if cfg.get("integration", "gausslegendre") == "gausslegendre" else 2
    if int(cfg.get("n_steps", 50)) < low:
        raise VizlabError(f"method.n_steps={cfg.n_steps} must be >= {low} for this rule.")
    if int(cfg.get("n_samples", 25)) < 1:
        raise VizlabError(f"method.n_samples={cfg.n_samples} must be >= 1.")
    if float(cfg.get("noise_level", 0.15)) < 0:
        raise VizlabError(f"method.noise_level={cfg.noise_level} must be >= 0 (e.g. 0.15).")
    if cfg.get("smooth", "gradient") not in ("gradient", "guided_backprop"):
        raise VizlabError(
            f"method.smooth={cfg.smooth!r} is not valid; SmoothGrad averages gradient or "
            "guided_backprop."
        )


def guided(ctx: RunContext, ex: Explained) -> GuidedBackprop:
    return GuidedBackprop(ctx.model.module, ex.forward)


def attribute(ctx: RunContext, ex: Explained, kind: str) -> tuple[Tensor, dict]:
    """Attributions (N x 3 x H x W, model-input space) of one kind, plus its metrics."""
    cfg = ctx.method_cfg
    _check(cfg)
    batch = cfg.get("batch_size")
    metrics: dict = {}
    try:
        if kind == "gradient":
            attr = Gradient(ex.forward).attribute(ex.inputs, ex.target)
        elif kind == "guided_backprop":
            method = guided(ctx, ex)
            attr = method.attribute(ex.inputs, ex.target)
            metrics["guided_backprop_modules"] = len(method.guided_modules)
        elif kind == "smoothgrad":
            inner = guided(ctx, ex) if cfg.get("smooth") == "guided_backprop" else None
            attr = SmoothGrad(inner or Gradient(ex.forward)).attribute(
                ex.inputs,
                ex.target,
                n_samples=int(cfg.get("n_samples", 25)),
                noise_level=float(cfg.get("noise_level", 0.15)),
                squared=bool(cfg.get("squared", True)),
                batch_size=batch,
                generator=ctx.generator(),
            )
        elif kind == "integrated_gradients":
            base = baseline(ctx, cfg.get("baseline", "mean"), ex.inputs, ex.photos)
            attr, gap = IntegratedGradients(ex.forward).attribute(
                ex.inputs,
                ex.target,
                baselines=base,
                n_steps=int(cfg.get("n_steps", 50)),
                method=cfg.get("integration", "gausslegendre"),
                internal_batch_size=batch,
                return_convergence_delta=True,
            )
            with torch.no_grad():
                method = IntegratedGradients(ex.forward)
                change = method.scores(ex.inputs, ex.target) - method.scores(base, ex.target)
            metrics["ig_score_change"] = float(change[0])
            metrics["ig_completeness_gap"] = float(gap[0])
            metrics["ig_completeness_rel"] = float(gap[0].abs() / change[0].abs().clamp_min(1e-12))
        else:
            parse_kinds(kind)
            raise AssertionError(kind)
    except ValueError as err:
        raise VizlabError(f"method={cfg.name} kind={kind}: {err}.") from err
    return attr.detach(), metrics


class Saliency(Method):
    name = "saliency"
    description = "Gradient, guided backprop, SmoothGrad, Integrated Gradients saliency maps"

    def run(self, ctx: RunContext) -> Result:
        cfg = ctx.method_cfg
        kinds = parse_kinds(cfg.get("kind", "gradient"))
        ex = explained(ctx)
        metrics = dict(ex.metrics)
        rows, labels, images, tensors = [], [], {}, {}
        percentile = float(cfg.get("percentile", 99.0))
        per_kind: dict[str, tuple[Tensor, Tensor, Tensor]] = {}
        last_label: dict[str, str] = {}
        for kind in kinds:
            start = time.perf_counter()
            attr, extra = attribute(ctx, ex, kind)
            metrics[f"{kind}_seconds"] = time.perf_counter() - start
            metrics.update(extra)
            heat = normalize(channel_max_abs(attr), percentile)
            # squared SmoothGrad has no sign: its last panel is the colour-mapped map instead
            squared = kind == "smoothgrad" and cfg.get("squared", True)
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
