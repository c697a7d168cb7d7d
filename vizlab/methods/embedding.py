"""2-D embeddings of an image set (lecture 21.2.2): PCA (linear, global structure) and t-SNE
(non-linear, local neighbourhoods) of raw pixels and of a layer's features, as scatter plots
coloured by label and as image-thumbnail maps (lecture Fig. 21.4)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE, trustworthiness
from sklearn.metrics import silhouette_score

from vizlab.analysis.features import extract_features
from vizlab.analysis.plots import thumbnails_scatter
from vizlab.data.image_sets import ImageSet, load_image_set
from vizlab.errors import VizlabError
from vizlab.methods.base import Method, Result, RunContext
from vizlab.plotting import plt

SPACES = ("pixel", "feature")
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
        raise VizlabError(f"method.tsne_method='{method}' is unknown; use {TSNE_METHODS}.")
    if method == "auto":
        method = "exact" if len(x) <= 500 else "barnes_hut"
    if pca_dims and x.shape[1] > pca_dims:
        x = PCA(n_components=min(pca_dims, len(x)), random_state=seed).fit_transform(x)
    perplexity = min(perplexity, (len(x) - 1) / 3)
    tsne = TSNE(2, perplexity=perplexity, init="pca", random_state=seed, method=method)
    return tsne.fit_transform(x), float(tsne.kl_divergence_)


class Embedding(Method):
    name = "embedding"
    description = "PCA and t-SNE of pixels and of a layer's features over an image set (21.2.2)"

    def run(self, ctx: RunContext) -> Result:
        cfg, model = ctx.method_cfg, ctx.model
        layer = ctx.target.layer
        images = load_image_set(cfg, model.spec)
        if len(images) < 5:
            raise VizlabError(f"method=embedding needs at least 5 images; got {len(images)}.")
        spaces = list(cfg.get("spaces") or SPACES)
        bad = [s for s in spaces if s not in SPACES]
        if bad:
            raise VizlabError(f"method.spaces={bad} unknown; use a list from {list(SPACES)}.")
        seed = int(cfg.get("seed", 0))
        pool = str(cfg.get("pool", "avg"))
        data = {}
        if "pixel" in spaces:
            data["pixel"] = images.images.flatten(1).numpy()
        if "feature" in spaces:
            feats = extract_features(
                model, images.images, layer, pool, int(cfg.get("batch_size", 32))
            )
            data["feature"] = feats.numpy()
        metrics: dict = {
            "layer": layer,
            "pool": pool,
            "image_set": str(cfg.get("image_set")),
            "num_images": len(images),
        }
        points: dict[tuple[str, str], np.ndarray] = {}
        n_trust = min(5, len(images) // 2 - 1)
        for space, x in data.items():
            points[space, "pca"], metrics[f"pca_explained_variance_{space}"] = pca_2d(x, seed)
            points[space, "tsne"], metrics[f"tsne_kl_{space}"] = tsne_2d(
                x,
                seed,
                float(cfg.get("perplexity", 30)),
                int(cfg.get("tsne_pca_dims", 50)),
                str(cfg.get("tsne_method", "auto")),
            )
            metrics[f"{space}_dim"] = x.shape[1]
            for algo in ("pca", "tsne"):
                metrics[f"trustworthiness_{algo}_{space}"] = float(
                    trustworthiness(x, points[space, algo], n_neighbors=n_trust)
                )
                if images.labels is not None and len(np.unique(images.labels)) > 1:
                    metrics[f"silhouette_{algo}_{space}"] = float(
                        silhouette_score(points[space, algo], images.labels)
                    )
        what = f"{model.name} {layer} ({pool})"
        figures = {"embedding": _scatter_grid(points, images, what)}
        if cfg.get("thumbnails", True):
            space = "feature" if "feature" in data else spaces[0]
            figures["thumbnails"] = _thumbnail_grid(points, images, space, what, cfg)
        tensors = {f"{s}_{a}": torch.from_numpy(p) for (s, a), p in points.items()}
        return Result(metrics=metrics, figures=figures, tensors=tensors)


def _colors(images: ImageSet):
    if images.labels is None:
        return None, []
    cmap = plt.get_cmap("tab10" if images.labels.max() < 10 else "tab20")
    names = images.label_names or [str(i) for i in range(images.labels.max() + 1)]
    return [cmap(int(k) % cmap.N) for k in images.labels], [
        (cmap(k % cmap.N), names[k]) for k in np.unique(images.labels)
    ]


def _title(space: str, algo: str, what: str) -> str:
    where = "raw pixels" if space == "pixel" else what
    return f"{'PCA' if algo == 'pca' else 't-SNE'} of {where}"


def _scatter_grid(points, images: ImageSet, what: str):
    spaces = sorted({s for s, _ in points}, key=SPACES.index)
    fig, axes = plt.subplots(len(spaces), 2, figsize=(11, 5 * len(spaces)), squeeze=False)
    colors, legend = _colors(images)
    for r, space in enumerate(spaces):
        for c, algo in enumerate(("pca", "tsne")):
            ax, p = axes[r, c], points[space, algo]
            ax.scatter(p[:, 0], p[:, 1], c=colors, s=18, alpha=0.85, edgecolors="none")
            ax.set_title(_title(space, algo, what), fontsize=11)
            ax.set_xticks([])
            ax.set_yticks([])
    if legend:
        handles = [
            plt.Line2D([], [], marker="o", ls="", color=col, label=name) for col, name in legend
        ]
        fig.legend(handles=handles, loc="lower center", ncol=min(8, len(handles)), fontsize=9)
    fig.suptitle(f"Image-set embedding ({len(images)} images)", fontsize=12)
    fig.tight_layout(rect=(0, 0.06 if legend else 0, 1, 1))
    return fig


def _thumbnail_grid(points, images: ImageSet, space: str, what: str, cfg):
    fig, axes = plt.subplots(1, 2, figsize=(16, 8), squeeze=False)
    colors, _ = _colors(images)
    px = int(cfg.get("thumbnail_px", 28))
    for c, algo in enumerate(("pca", "tsne")):
        ax = axes[0, c]
        thumbnails_scatter(ax, points[space, algo], images.images, colors, px)
        ax.set_title(_title(space, algo, what) + " (frame colour = label)", fontsize=11)
    fig.tight_layout()
    return fig
