"""Decorrelated colour (Olah et al. 2017, lucid ``optvis/param/color.py``): the optimized
channels are the principal components of natural-image RGB, recorrelated by the square root of
ImageNet's colour covariance, then squashed into [0, 1] by a sigmoid."""

from __future__ import annotations

import torch

COLOR_CORRELATION_SVD_SQRT = torch.tensor(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]]
)
"""Square root of ImageNet's RGB covariance (columns: principal directions), from lucid."""


def correlation_matrix(decorrelate: bool = True) -> torch.Tensor:
    """3 x 3 matrix C with rgb = C s; normalized to unit largest column norm (as lucid)."""
    if not decorrelate:
        return torch.eye(3)
    m = COLOR_CORRELATION_SVD_SQRT
    return m / m.norm(dim=0).max()


def recorrelate(s: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Decorrelated N x 3 x H x W -> RGB (before the sigmoid), as one batched matrix
    product over the flattened pixels (no permuted copies, forward or backward). It is the
    ``bmm`` that ``torch.matmul(matrix, s.flatten(2))`` makes, on the same operands, called
    directly: matmul's broadcasting takes five more calls around it, twice a step of a
    spectral parameterization."""
    n, c = s.shape[:2]
    return torch.bmm(matrix.to(s).expand(n, c, c), s.flatten(2)).view_as(s)


def to_unit(s: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Decorrelated pre-activations -> RGB in (0, 1)."""
    return torch.sigmoid(recorrelate(s, matrix))


def from_unit(x: torch.Tensor, matrix: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """Inverse of :func:`to_unit` (values clamped to [eps, 1 - eps] first)."""
    logits = torch.logit(x.clamp(eps, 1 - eps))
    return recorrelate(logits, torch.linalg.inv(matrix.to(torch.float64)).to(matrix))
