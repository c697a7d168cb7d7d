"""k nearest neighbours of each image of a set and how often they share its label
(lecture 21.2.1: pixel space vs feature space)."""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors as SklearnNN


def neighbours(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and L2 distances of the k nearest *other* rows of ``x`` for every row."""
    index = SklearnNN(n_neighbors=k + 1).fit(x)
    dist, idx = index.kneighbors(x)
    rows = np.arange(len(x))[:, None]
    keep = idx != rows  # drop the query itself (wherever ties put it)
    keep[keep.sum(1) > k, -1] = False  # the query was not returned: drop the farthest
    return idx[keep].reshape(len(x), k), dist[keep].reshape(len(x), k)


def label_agreement(labels: np.ndarray, idx: np.ndarray) -> float:
    """Mean fraction of each query's neighbours with the query's label."""
    return float((labels[idx] == labels[:, None]).mean())


def chance_agreement(labels: np.ndarray) -> float:
    """Expected agreement of k random other images: sum_c n_c (n_c - 1) / (N (N - 1))."""
    n = len(labels)
    counts = np.bincount(labels)
    return float((counts * (counts - 1)).sum() / (n * (n - 1)))
