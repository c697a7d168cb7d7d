"""Gram matrices and the Gram (style) loss of Gatys et al. (2015, 2016)."""

from __future__ import annotations

import torch


def as_channels_by_positions(features: torch.Tensor) -> torch.Tensor:
    """N x C x H x W (CNN), N x T x C (ViT tokens) or N x C (one position) -> N x C x M with
    M positions."""
    if features.ndim == 4:
        return features.flatten(2)
    if features.ndim == 3:
        return features.transpose(1, 2)
    if features.ndim == 2:
        return features.unsqueeze(-1)
    raise ValueError(
        f"expected N x C x H x W, N x T x C or N x C features, got {tuple(features.shape)}"
    )


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """G_cc' = (1/M) sum_m F_cm F_c'm per image (N x C x C): the co-activation statistics of
    the channels with the spatial layout summed out, divided by the number of positions M so
    images of different sizes are comparable."""
    f = as_channels_by_positions(features)
    return f @ f.transpose(1, 2) / f.shape[-1]


def gram_loss(gram: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """E_l = 1/(4 C^2) sum (G - G_target)^2 per image; with G divided by M this equals Gatys et
    al.'s 1/(4 N_l^2 M_l^2) sum (G - A)^2 on un-normalized Gram matrices (their Eq. 4)."""
    c = gram.shape[-1]
    return (gram - target).pow(2).flatten(1).sum(1) / (4 * c * c)
