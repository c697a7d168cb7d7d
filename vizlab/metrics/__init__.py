"""Quantitative measures of pre-images (SPEC §3)."""

from vizlab.metrics.preimage import (
    classification_consistency,
    gradient_histogram_intersection,
    mean_ci95,
    normalized_error,
    topk_labels,
)

__all__ = [
    "classification_consistency",
    "gradient_histogram_intersection",
    "mean_ci95",
    "normalized_error",
    "topk_labels",
]
