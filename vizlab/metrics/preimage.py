"""Metrics of Mahendran & Vedaldi Sect. 5.2.2-5.2.3."""

from __future__ import annotations

import functools
import math

import numpy as np
import torch


def normalized_error(
    phi: torch.Tensor, phi0: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """sqrt(||(Phi(x) - Phi0) * M||^2 / ||Phi0 * M||^2) per image (Eq. 3, square-rooted as in
    the paper's reported errors)."""
    diff, ref = phi - phi0, phi0
    if mask is not None:
        diff, ref = diff * mask, ref * mask
    num = diff.flatten(1).pow(2).sum(1)
    den = ref.flatten(1).pow(2).sum(1).clamp_min(1e-12)
    return (num / den).sqrt()


def mean_ci95(values: np.ndarray | list[float]) -> tuple[float, float]:
    """Mean and half-width of the 95% interval of the mean (1.96 * standard error)."""
    v = np.asarray(values, dtype=float)
    if v.size < 2:
        return float(v.mean()), 0.0
    return float(v.mean()), float(1.96 * v.std(ddof=1) / math.sqrt(v.size))


def classification_consistency(logits_x: torch.Tensor, logits_ref: torch.Tensor) -> torch.Tensor:
    """Per pre-image: 1 if the network's top-1 class equals its reference's (Sect. 5.2.2)."""
    return (logits_x.argmax(-1) == logits_ref.argmax(-1)).float()


def _gradient_magnitude(image: torch.Tensor) -> np.ndarray:
    """|grad| of the luminance of a 3xHxW [0,1] image (central differences)."""
    gray = (0.299 * image[0] + 0.587 * image[1] + 0.114 * image[2]).double().cpu().numpy()
    gy, gx = np.gradient(gray)
    return np.hypot(gx, gy)


def gradient_histogram_intersection(x: torch.Tensor, x0: torch.Tensor, bins: int = 50) -> float:
    """Naturalness (Sect. 5.2.3): intersection of the normalized histograms of gradient
    magnitudes of x and x0 (both 3xHxW in [0, 1]); 1 means identical statistics."""
    gx, g0 = _gradient_magnitude(x), _gradient_magnitude(x0)
    top = max(float(np.percentile(g0, 99.5)), 1e-6)
    edges = np.linspace(0.0, top, bins + 1)
    edges[-1] = np.inf  # the last bin takes everything above the reference's range
    hx = np.histogram(gx, bins=edges)[0].astype(float)
    h0 = np.histogram(g0, bins=edges)[0].astype(float)
    return float(np.minimum(hx / hx.sum(), h0 / h0.sum()).sum())


def topk_labels(logits: torch.Tensor, k: int = 5) -> list[list[str]]:
    """Top-k ImageNet class names with probabilities, one list per image."""
    probs = logits.softmax(-1)
    values, indices = probs.topk(min(k, probs.shape[-1]), dim=-1)
    names = _class_names(probs.shape[-1])
    return [
        [f"{names(int(i))} ({float(p):.3f})" for p, i in zip(vs, ix)]
        for vs, ix in zip(values, indices)
    ]


def _class_names(num_classes: int):
    if num_classes == 1000:
        info = _imagenet_info()
        return lambda i: f"{i}:{info.index_to_description(i)}"
    return lambda i: f"class {i}"


@functools.lru_cache(maxsize=1)
def _imagenet_info():
    """timm's ImageNet class names, read once per process (reading them takes ~50 ms)."""
    from timm.data import ImageNetInfo

    return ImageNetInfo()
