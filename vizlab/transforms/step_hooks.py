"""Step-dependent operations on the image after each optimizer step (Yosinski et al. 2015,
"Understanding neural networks through deep visualization", Sect. 3): Gaussian blur every k
steps, and zeroing pixels of small norm or small contribution. They are not differentiable
transforms but projections: the engine renders the image, applies the hooks, and writes the
result back into the parameterization (``ImageParam.assign_``).

A hook is ``hook(step, x, grad) -> x' | None`` on detached N x 3 x H x W paper-unit images
(0 = mean colour, so "zero" is the mean image as in Yosinski et al.); ``grad`` is the gradient
of the data term (to be minimized) w.r.t. the image, present when ``wants_grad``. None means
"unchanged".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torchvision.transforms.functional as TF

from vizlab.optim.preimage_sgd import pixel_norm


def _zero_below_percentile(x: torch.Tensor, score: torch.Tensor, percentile: float):
    """Zero the pixels whose score (N x 1 x H x W) is below the per-image percentile."""
    q = torch.quantile(score.flatten(1), percentile / 100.0, dim=1).view(-1, 1, 1, 1)
    return x * (score >= q).to(x)


@dataclass
class BlurEvery:
    """Gaussian blur of width ``sigma`` pixels every ``every`` steps (Yosinski's theta_b)."""

    every: int = 4
    sigma: float = 0.5
    wants_grad = False

    def __call__(self, step: int, x: torch.Tensor, grad: torch.Tensor | None = None):
        if self.sigma <= 0 or self.every <= 0 or (step + 1) % self.every:
            return None
        radius = max(1, math.ceil(3 * self.sigma))
        radius = min(radius, (min(x.shape[-2:]) - 1) // 2)
        if radius < 1:
            return None
        k = 2 * radius + 1
        return TF.gaussian_blur(x, [k, k], [self.sigma, self.sigma])


@dataclass
class ClipSmallNorm:
    """Zero the pixels whose RGB norm is below the ``percentile``-th percentile of the image
    (Yosinski's theta_n_pct)."""

    percentile: float = 20.0
    wants_grad = False

    def __call__(self, step: int, x: torch.Tensor, grad: torch.Tensor | None = None):
        if self.percentile <= 0:
            return None
        return _zero_below_percentile(x, pixel_norm(x), self.percentile)


@dataclass
class ClipSmallContribution:
    """Zero the pixels whose contribution |sum_c x * d(objective)/dx| (the first-order change
    of the objective if the pixel were set to zero) is below the ``percentile``-th percentile
    (Yosinski's theta_c_pct)."""

    percentile: float = 20.0
    wants_grad = True

    def __call__(self, step: int, x: torch.Tensor, grad: torch.Tensor | None = None):
        if self.percentile <= 0 or grad is None:
            return None
        contribution = (x * grad).sum(dim=1, keepdim=True).abs()
        return _zero_below_percentile(x, contribution, self.percentile)
