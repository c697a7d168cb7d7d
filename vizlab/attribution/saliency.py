"""Gradient saliency of one kind, by name: vanilla gradient (Simonyan et al. 2014), guided
backpropagation (Springenberg et al. 2015), SmoothGrad (Smilkov et al. 2017) and Integrated
Gradients (Sundararajan et al. 2017), with the metrics each kind reports."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vizlab.attribution.explain import Explained
from vizlab.attribution.gradient import Gradient
from vizlab.attribution.guided import GuidedBackprop
from vizlab.attribution.integrated_gradients import IntegratedGradients
from vizlab.attribution.smoothgrad import SmoothGrad

KINDS = ("gradient", "guided_backprop", "smoothgrad", "integrated_gradients")
SMOOTHED = ("gradient", "guided_backprop")
"""What SmoothGrad may average."""


def attribute(
    module: nn.Module,
    ex: Explained,
    kind: str,
    *,
    baseline: Tensor | None = None,
    n_samples: int = 25,
    noise_level: float = 0.15,
    squared: bool = True,
    smooth: str = "gradient",
    n_steps: int = 50,
    integration: str = "gausslegendre",
    batch_size: int | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, dict]:
    """Attributions (N x 3 x H x W, model-input space) of ``kind`` for ``ex``, and its metrics.

    ``module`` is the network guided backprop rewires; ``baseline`` (model space, default
    zeros) is Integrated Gradients' reference image."""
    metrics: dict = {}
    if kind == "gradient":
        attr = Gradient(ex.forward).attribute(ex.inputs, ex.target)
    elif kind == "guided_backprop":
        method = GuidedBackprop(module, ex.forward)
        attr = method.attribute(ex.inputs, ex.target)
        metrics["guided_backprop_modules"] = len(method.guided_modules)
    elif kind == "smoothgrad":
        inner = GuidedBackprop(module, ex.forward) if smooth == "guided_backprop" else None
        attr = SmoothGrad(inner or Gradient(ex.forward)).attribute(
            ex.inputs,
            ex.target,
            n_samples=n_samples,
            noise_level=noise_level,
            squared=squared,
            batch_size=batch_size,
            generator=generator,
        )
    elif kind == "integrated_gradients":
        base = torch.zeros_like(ex.inputs) if baseline is None else baseline
        method = IntegratedGradients(ex.forward)
        attr, gap = method.attribute(
            ex.inputs,
            ex.target,
            baselines=base,
            n_steps=n_steps,
            method=integration,
            internal_batch_size=batch_size,
            return_convergence_delta=True,
        )
        with torch.no_grad():
            change = method.scores(ex.inputs, ex.target) - method.scores(base, ex.target)
        metrics["ig_score_change"] = float(change[0])
        metrics["ig_completeness_gap"] = float(gap[0])
        metrics["ig_completeness_rel"] = float(gap[0].abs() / change[0].abs().clamp_min(1e-12))
    else:
        raise ValueError(f"unknown saliency kind {kind!r}; valid: {', '.join(KINDS)}")
    return attr.detach(), metrics
