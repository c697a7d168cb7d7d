"""2-D embeddings of feature vectors (lecture 21.2.2): PCA (linear, global structure) and
t-SNE (van der Maaten & Hinton 2008; non-linear, local neighbourhoods), by scikit-learn."""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

TSNE_METHODS = ("auto", "exact", "barnes_hut")


def pca_2d(x: np.ndarray, seed: int) -> tuple[np.ndarray, float]:
    """2-D PCA projection and the fraction of variance it keeps."""
    pca = PCA(n_components=2, random_state=seed).fit(x)
    return pca.transform(x), float(pca.explained_variance_ratio_.sum())


def tsne_2d(
    x: np.ndarray, seed: int, perplexity: float, pca_dims: int, method: str = "auto"
) -> tuple[np.ndarray, float]:
    """2-D t-SNE (PCA-initialized, after a PCA to ``pca_dims`` as usual) and its final KL.
    ``auto`` uses the exact gradient up to 500 points (much faster than Barnes-Hut there)."""
    if method not in TSNE_METHODS:
        raise ValueError(f"unknown t-SNE method {method!r}; use one of {TSNE_METHODS}")
    if method == "auto":
        method = "exact" if len(x) <= 500 else "barnes_hut"
    if pca_dims and x.shape[1] > pca_dims:
        x = PCA(n_components=min(pca_dims, len(x)), random_state=seed).fit_transform(x)
    perplexity = min(perplexity, (len(x) - 1) / 3)
    tsne = TSNE(2, perplexity=perplexity, init="pca", random_state=seed, method=method)
    return tsne.fit_transform(x), float(tsne.kl_divergence_)
