"""Integrated Gradients (Sundararajan, Taly & Yan 2017, Eq. 1 and its Riemann approximation
Eq. 3): IG_i(x) = (x_i - x'_i) * int_0^1 dF(x' + a (x - x'))/dx_i da.

The integral uses captum's quadrature rules and default (``gausslegendre``: n Gauss-Legendre
nodes on [0, 1]); ``riemann_left``, ``_right`` and ``_middle`` are the Riemann sums and
``riemann_trapezoid`` the trapezoid rule on n equally spaced nodes including both ends (whose
weights, unlike captum 0.9's, sum to 1). Completeness (their Prop. 1) says
sum_i IG_i = F(x) - F(x'); :meth:`IntegratedGradients.attribute` can return the gap.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from vizlab.attribution.base import ForwardFunc, GradientAttribution, Target, chunks, repeat_target

METHODS = ("gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle")


def quadrature(n_steps: int, method: str = "gausslegendre") -> tuple[list[float], list[float]]:
    """Nodes ``alphas`` in [0, 1] and weights summing to 1 (captum's approximation rules)."""
    if method == "gausslegendre":
        if n_steps < 1:
            raise ValueError("n_steps must be >= 1")
        nodes, weights = np.polynomial.legendre.leggauss(n_steps)
        return (0.5 * (nodes + 1)).tolist(), (0.5 * weights).tolist()
    if method not in METHODS:
        raise ValueError(f"unknown integration method {method!r}; known: {', '.join(METHODS)}")
    if n_steps < 2:
        raise ValueError("Riemann rules need n_steps >= 2")
    n = n_steps
    weights = [1 / n] * n
    if method == "riemann_trapezoid":
        # n nodes 0, 1/(n-1), ..., 1: spacing 1/(n-1). captum 0.9 uses 1/n here, so its
        # trapezoid weights sum to (n-1)/n and its attributions are (n-1)/n times these.
        weights = [1 / (n - 1)] * n
        weights[0] /= 2
        weights[-1] /= 2
        alphas = torch.linspace(0, 1, n)
    elif method == "riemann_left":
        alphas = torch.linspace(0, 1 - 1 / n, n)
    elif method == "riemann_right":
        alphas = torch.linspace(1 / n, 1, n)
    else:
        alphas = torch.linspace(1 / (2 * n), 1 - 1 / (2 * n), n)
    return alphas.tolist(), weights


class IntegratedGradients(GradientAttribution):
    """Path-integrated gradients from a baseline x' (default: zeros of the model input, i.e.
    the mean colour for normalized inputs)."""

    def __init__(self, forward_func: ForwardFunc):
        super().__init__(forward_func)

    def attribute(
        self,
        inputs: Tensor,
        target: Target = None,
        baselines: Tensor | float | None = None,
        n_steps: int = 50,
        method: str = "gausslegendre",
        internal_batch_size: int | None = None,
        return_convergence_delta: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """``internal_batch_size`` bounds the path points per forward/backward pass."""
        alphas, weights = quadrature(n_steps, method)
        base = torch.zeros_like(inputs) if baselines is None else torch.as_tensor(baselines)
        base = base.to(inputs).expand_as(inputs)
        n, k = inputs.shape[0], len(alphas)
        a = torch.tensor(alphas, dtype=inputs.dtype, device=inputs.device)
        w = torch.tensor(weights, dtype=inputs.dtype, device=inputs.device)
        shape = (n, k, *([1] * (inputs.dim() - 1)))
        delta = (inputs - base).unsqueeze(1)
        path = (base.unsqueeze(1) + a.view(1, k, *shape[2:]) * delta).flatten(0, 1)
        targets = repeat_target(target, k)
        grads = torch.empty_like(path)
        for part in chunks(path.shape[0], internal_batch_size):
            t = targets[part] if isinstance(targets, Tensor) and targets.numel() > 1 else targets
            grads[part] = self.gradients(path[part], t)
        avg = (grads.view(n, k, *inputs.shape[1:]) * w.view(1, k, *shape[2:])).sum(1)
        attributions = (inputs - base) * avg
        if not return_convergence_delta:
            return attributions
        with torch.no_grad():
            gap = self.scores(inputs, target) - self.scores(base, target)
        return attributions, attributions.flatten(1).sum(1) - gap
