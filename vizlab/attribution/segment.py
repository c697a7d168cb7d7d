"""Segmentation of a photo seeded by a saliency map with GrabCut (Simonyan et al. 2014,
Sect. 3.1; Rother et al. 2004, through OpenCV's ``cv2.grabCut``)."""

from __future__ import annotations

import numpy as np

from vizlab.errors import VizlabError


def seed_mask(saliency: np.ndarray, fg: float, probable: float, bg: float) -> np.ndarray:
    """cv2 GrabCut labels from saliency quantiles (uint8 H x W)."""
    import cv2

    q_bg, q_pr, q_fg = np.quantile(saliency, [bg, probable, fg])
    if not q_fg > q_bg:
        raise VizlabError(
            "The saliency map is flat (its foreground and background quantiles are equal), so "
            "GrabCut has no seeds. Try another method.saliency source or class."
        )
    mask = np.full(saliency.shape, cv2.GC_PR_BGD, np.uint8)
    mask[saliency >= q_pr] = cv2.GC_PR_FGD
    mask[saliency >= q_fg] = cv2.GC_FGD
    mask[saliency < q_bg] = cv2.GC_BGD
    return mask


def grabcut(photo: np.ndarray, seeds: np.ndarray, iterations: int, seed: int) -> np.ndarray:
    """Boolean foreground mask of an H x W x 3 [0, 1] RGB photo from cv2 seed labels."""
    import cv2

    cv2.setRNGSeed(seed)
    bgr = np.ascontiguousarray((photo[..., ::-1] * 255).round().clip(0, 255).astype(np.uint8))
    mask = seeds.copy()
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(bgr, mask, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    return (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
