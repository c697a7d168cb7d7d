"""Penalty terms of the energy, Eq. (1): alpha-norm (Eq. 5-6), TV^beta (Sect. 3.2.2) and the
L2 decay of Simonyan et al. Each maps a batch N x 3 x H x W in paper units to N values."""

from __future__ import annotations

import torch


class AlphaNorm:
    """N_alpha(x) = 1/(H W B^alpha) sum_{v,u} (sum_k x(v,u,k)^2)^(alpha/2)   (Eq. 5).

    Isotropic in RGB; B is the typical norm of a pixel's RGB vector so N_alpha ~ 1 for a
    natural image. The hard bound of Eq. 6 (pixel norm <= B+) is a projection done by the
    optimizer (Algorithm 1), not a penalty.
    """

    def __init__(self, alpha: float = 6.0, B: float = 80.0):
        self.alpha = float(alpha)
        self.B = float(B)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        pixel_sq = x.pow(2).sum(dim=1)  # N x H x W
        return pixel_sq.pow(self.alpha / 2).sum(dim=(-2, -1)) / (h * w * self.B**self.alpha)


def total_variation(x: torch.Tensor, beta: float = 1.0, eps: float | None = None) -> torch.Tensor:
    """sum_{u,v,k} ((x(v,u+1,k)-x(v,u,k))^2 + (x(v+1,u,k)-x(v,u,k))^2)^(beta/2) per image,
    over the (H-1) x (W-1) pixels with both neighbours, unnormalized: M&V's TV^beta
    (Sect. 3.2.2) and, with beta = 1, the isotropic TV of Strong & Chan 2003. ``eps`` (default
    1e-8 for beta < 2, else 0) keeps the gradient finite where both differences vanish."""
    if eps is None:
        eps = 0.0 if beta >= 2 else 1e-8
    dx = x[..., :-1, 1:] - x[..., :-1, :-1]
    dy = x[..., 1:, :-1] - x[..., :-1, :-1]
    local = dx.pow(2) + dy.pow(2)
    if eps:
        local = local + eps
    if beta != 2:
        local = local.pow(beta / 2)
    return local.sum(dim=(1, 2, 3))


class TotalVariation:
    """R_TV^beta(x) = 1/(H W V^beta) sum_{u,v,k} ((x(v,u+1,k)-x(v,u,k))^2
    + (x(v+1,u,k)-x(v,u,k))^2)^(beta/2)   (Sect. 3.2.2).

    Finite differences over the (H-1) x (W-1) pixels that have both neighbours; normalized by
    the full area H W as in the paper. V defaults to B / 6.5 (Sect. 3.3). For beta < 2 a tiny
    epsilon keeps the gradient finite where both differences are exactly zero.
    """

    def __init__(self, beta: float = 2.0, V: float | None = None, B: float = 80.0):
        self.beta = float(beta)
        self.V = float(V) if V is not None else float(B) / 6.5
        self.eps = 0.0 if self.beta >= 2 else 1e-8

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        return total_variation(x, self.beta, self.eps) / (h * w * self.V**self.beta)


class L2Decay:
    """Simonyan et al.'s L2 decay 1/(H W B^2) ||x||^2, normalized like N_alpha with alpha=2."""

    def __init__(self, B: float = 80.0):
        self.B = float(B)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        return x.pow(2).sum(dim=(1, 2, 3)) / (h * w * self.B**2)


PENALTIES = {"alpha_norm": AlphaNorm, "tv": TotalVariation, "l2": L2Decay}
