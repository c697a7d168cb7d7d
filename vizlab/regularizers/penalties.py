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
        return _AlphaNorm.apply(x, self.alpha, h * w * self.B**self.alpha)

    def with_grad(
        self, x: torch.Tensor, weight: float, grad: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The value per image (as :meth:`__call__`) and ``grad`` + ``weight`` times its
        gradient alpha s^(alpha/2 - 1) x / norm (a new tensor when ``grad`` is None), made
        without autograd: the engine adds it to the image's gradient itself."""
        h, w = x.shape[-2:]
        norm = h * w * self.B**self.alpha
        pixel_sq, value = _alpha_norm(x, self.alpha, norm)
        factor = pixel_sq.pow(self.alpha / 2 - 1).mul_(weight * self.alpha / norm).unsqueeze(1)
        if grad is None:
            return value, x * factor
        return value, grad.addcmul_(x, factor)


def _alpha_norm(x: torch.Tensor, alpha: float, norm: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(s, sum_{v,u} s^(alpha/2) / norm per image), s = each pixel's squared RGB norm."""
    pixel_sq = x.pow(2).sum(dim=1)  # N x H x W
    return pixel_sq, pixel_sq.pow(alpha / 2).sum(dim=(-2, -1)) / norm


class _AlphaNorm(torch.autograd.Function):
    """sum_{v,u} s^(alpha/2) / norm per image, s = each pixel's squared RGB norm, with the
    gradient alpha s^(alpha/2 - 1) x / norm written out: one autograd node and three
    elementwise passes backward instead of the eight that autograd records for the formula
    (this penalty runs every step of the paper's energy)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float, norm: float) -> torch.Tensor:
        pixel_sq, value = _alpha_norm(x, alpha, norm)
        ctx.save_for_backward(x, pixel_sq)
        ctx.alpha, ctx.norm = alpha, norm
        return value

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, pixel_sq = ctx.saved_tensors
        factor = (grad * (ctx.alpha / ctx.norm)).view(-1, 1, 1, 1)
        return x * pixel_sq.pow(ctx.alpha / 2 - 1).unsqueeze(1).mul_(factor), None, None


def total_variation(x: torch.Tensor, beta: float = 1.0, eps: float | None = None) -> torch.Tensor:
    """sum_{u,v,k} ((x(v,u+1,k)-x(v,u,k))^2 + (x(v+1,u,k)-x(v,u,k))^2)^(beta/2) per image,
    over the (H-1) x (W-1) pixels with both neighbours, unnormalized: M&V's TV^beta
    (Sect. 3.2.2) and, with beta = 1, the isotropic TV of Strong & Chan 2003. ``eps`` (default
    1e-8 for beta < 2, else 0) keeps the gradient finite where both differences vanish."""
    if eps is None:
        eps = 0.0 if beta >= 2 else 1e-8
    return _TotalVariation.apply(x, float(beta), float(eps), 1.0)


def _shifted(x: torch.Tensor, down: int, right: int) -> torch.Tensor:
    """``x[..., down : down + H - 1, right : right + W - 1]`` (N x C x H x W) as one view:
    the (H-1) x (W-1) pixels with both neighbours, or those neighbours. Made in one call,
    where indexing with an ellipsis and two slices makes two (this penalty takes six
    such views a step; each call costs more than the view's arithmetic)."""
    n, c, h, w = x.shape
    stride = x.stride()
    offset = x.storage_offset() + down * stride[2] + right * stride[3]
    return x.as_strided((n, c, h - 1, w - 1), stride, offset)


def _differences(x: torch.Tensor, eps: float) -> tuple[torch.Tensor, ...]:
    """d_x, d_y and L = d_x^2 + d_y^2 + eps over the pixels with both neighbours."""
    corner = _shifted(x, 0, 0)
    dx = torch.sub(_shifted(x, 0, 1), corner)
    dy = torch.sub(_shifted(x, 1, 0), corner)
    local = dx.pow(2) + dy.pow(2)
    if eps:
        local = local + eps
    return dx, dy, local


def _tv_total(local: torch.Tensor, beta: float) -> torch.Tensor:
    """sum L^(beta/2) per image (L itself for beta = 2: no power pass)."""
    return (local.pow(beta / 2) if beta != 2 else local).sum(dim=(1, 2, 3))


def _add_differences_grad(out: torch.Tensor, gx: torch.Tensor, gy: torch.Tensor) -> torch.Tensor:
    """Each difference's gradient added to its later pixel and subtracted from the pixel it
    starts at, in ``out`` in place (``gx`` is overwritten). In-place operations on views,
    not augmented assignments to indexed regions (each of which also indexes again and
    copies the region onto itself)."""
    _shifted(out, 0, 1).add_(gx)
    _shifted(out, 1, 0).add_(gy)
    _shifted(out, 0, 0).sub_(gx.add_(gy))
    return out


class _TotalVariation(torch.autograd.Function):
    """TV^beta per image divided by ``norm``, with its gradient written out (one autograd
    node; the formula's slices, powers and sums record a dozen, each slice's backward a
    zero-filled image): with d_x, d_y the differences and L = d_x^2 + d_y^2 + eps,
    d TV / d d_x = beta L^(beta/2 - 1) d_x (likewise d_y), and each difference adds to the
    gradient of its later pixel and subtracts from that of the pixel it starts at."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, beta: float, eps: float, norm: float) -> torch.Tensor:
        dx, dy, local = _differences(x, eps)
        ctx.save_for_backward(dx, dy, local if beta != 2 else None)
        ctx.beta, ctx.norm, ctx.shape = beta, norm, x.shape
        total = _tv_total(local, beta)
        return total / norm if norm != 1.0 else total

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        dx, dy, local = ctx.saved_tensors
        factor = (grad * (ctx.beta / ctx.norm)).view(-1, 1, 1, 1)
        if local is not None:
            factor = local.pow(ctx.beta / 2 - 1).mul_(factor)
        gx, gy = dx * factor, dy * factor
        return _add_differences_grad(gx.new_zeros(ctx.shape), gx, gy), None, None, None


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
        return _TotalVariation.apply(x, self.beta, self.eps, h * w * self.V**self.beta)

    def with_grad(
        self, x: torch.Tensor, weight: float, grad: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The value per image (as :meth:`__call__`) and ``grad`` + ``weight`` times its
        gradient (see :class:`_TotalVariation`), made without autograd and added into
        ``grad`` in place: three strided additions, no zero-filled image."""
        h, w = x.shape[-2:]
        norm = h * w * self.V**self.beta
        dx, dy, local = _differences(x, self.eps)
        value = _tv_total(local, self.beta)  # before the power below overwrites L
        factor: float | torch.Tensor = weight * self.beta / norm
        if self.beta != 2:
            factor = local.pow_(self.beta / 2 - 1).mul_(factor)
        gx, gy = dx.mul_(factor), dy.mul_(factor)
        grad = torch.zeros_like(x) if grad is None else grad
        return value / norm, _add_differences_grad(grad, gx, gy)


class L2Decay:
    """Simonyan et al.'s L2 decay 1/(H W B^2) ||x||^2, normalized like N_alpha with alpha=2."""

    def __init__(self, B: float = 80.0):
        self.B = float(B)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        return x.pow(2).sum(dim=(1, 2, 3)) / (h * w * self.B**2)

    def with_grad(
        self, x: torch.Tensor, weight: float, grad: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The value per image and ``grad`` + ``weight`` times its gradient 2 x / norm."""
        h, w = x.shape[-2:]
        norm = h * w * self.B**2
        value = x.pow(2).sum(dim=(1, 2, 3)) / norm
        if grad is None:
            return value, x * (2 * weight / norm)
        return value, grad.add_(x, alpha=2 * weight / norm)


PENALTIES = {"alpha_norm": AlphaNorm, "tv": TotalVariation, "l2": L2Decay}
