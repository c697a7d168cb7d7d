"""Vanilla gradient saliency (Simonyan, Vedaldi & Zisserman 2014, "Deep inside convolutional
networks", Sect. 3): w = d S_c / d I, shown as M_ij = max_c |w_ijc| (their Eq. 1 and Sect. 3.1).
"""

from __future__ import annotations

from torch import Tensor

from vizlab.attribution.base import GradientAttribution, Target


class Gradient(GradientAttribution):
    """d score / d input (captum's ``Saliency`` with ``abs=False``)."""

    def attribute(self, inputs: Tensor, target: Target = None, abs: bool = False) -> Tensor:  # noqa: A002
        grad = self.gradients(inputs, target)
        return grad.abs() if abs else grad


def channel_max_abs(attributions: Tensor) -> Tensor:
    """Simonyan's saliency map: max over colour channels of |attribution| (N x C x H x W ->
    N x H x W)."""
    return attributions.abs().amax(1)
