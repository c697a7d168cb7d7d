"""2-D embeddings of an image set (lecture 21.2.2): PCA (linear, global structure) and t-SNE
(non-linear, local neighbourhoods) of raw pixels and of a layer's features, as scatter plots
coloured by label and as image-thumbnail maps (lecture Fig. 21.4)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.manifold import trustworthiness
from sklearn.metrics import silhouette_score

from vizlab.analysis.embedding import TSNE_METHODS, pca_2d, tsne_2d
from vizlab.analysis.features import POOLS, extract_features
from vizlab.analysis.plots import embedding_scatter, embedding_thumbnails
from vizlab.errors import VizlabError
from vizlab.methods.base import Method, Result, RunContext
from vizlab.methods.image_set_options import ImageSetOptions
from vizlab.schema import check_choice, check_positive, require

SPACES = ("pixel", "feature")


@dataclass
class EmbeddingOptions(ImageSetOptions):
    name: str
    pool: str
    spaces: list[str]
    perplexity: float
    tsne_pca_dims: int
    tsne_method: str
    thumbnails: bool
    thumbnail_px: int

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("pool", self.pool, POOLS)
        require(
            bool(self.spaces) and all(s in SPACES for s in self.spaces),
            "spaces",
            self.spaces,
            f"must be a non-empty list from {list(SPACES)}",
        )
        check_positive("perplexity", self.perplexity)
        check_positive("tsne_pca_dims", self.tsne_pca_dims, integer=True, allow_zero=True)
        check_choice("tsne_method", self.tsne_method, TSNE_METHODS)
        check_positive("thumbnail_px", self.thumbnail_px, integer=True)


class Embedding(Method):
    name = "embedding"
    description = "PCA and t-SNE of pixels and of a layer's features over an image set (21.2.2)"
    Options = EmbeddingOptions

    def run(self, ctx: RunContext) -> Result:
        opts: EmbeddingOptions = ctx.options
        model = ctx.model
        layer = ctx.target.layer
        images = opts.load(model.spec)
        if len(images) < 5:
            raise VizlabError(f"method=embedding needs at least 5 images; got {len(images)}.")
        spaces, seed, pool = list(opts.spaces), opts.seed, opts.pool
        data = {}
        if "pixel" in spaces:
            data["pixel"] = images.images.flatten(1).numpy()
        if "feature" in spaces:
            feats = extract_features(model, images.images, layer, pool, opts.batch_size)
            data["feature"] = feats.numpy()
        metrics: dict = {
            "layer": layer,
            "pool": pool,
            "image_set": opts.image_set,
            "num_images": len(images),
        }
        points: dict[tuple[str, str], np.ndarray] = {}
        n_trust = min(5, len(images) // 2 - 1)
        for space, x in data.items():
            points[space, "pca"], metrics[f"pca_explained_variance_{space}"] = pca_2d(x, seed)
            points[space, "tsne"], metrics[f"tsne_kl_{space}"] = tsne_2d(
                x,
                seed,
                opts.perplexity,
                opts.tsne_pca_dims,
                opts.tsne_method,
            )
            metrics[f"{space}_dim"] = x.shape[1]
            for algo in ("pca", "tsne"):
                metrics[f"trustworthiness_{algo}_{space}"] = float(
                    trustworthiness(x, points[space, algo], n_neighbors=n_trust)
                )
                if images.labels is not None and 1 < len(np.unique(images.labels)) < len(images):
                    metrics[f"silhouette_{algo}_{space}"] = float(
                        silhouette_score(points[space, algo], images.labels)
                    )
        what = f"{model.name} {layer} ({pool})"
        figures = {"embedding": embedding_scatter(points, images, what)}
        if opts.thumbnails:
            space = "feature" if "feature" in data else spaces[0]
            figures["thumbnails"] = embedding_thumbnails(
                points, images, space, what, opts.thumbnail_px
            )
        tensors = {f"{s}_{a}": torch.from_numpy(p) for (s, a), p in points.items()}
        return Result(metrics=metrics, figures=figures, tensors=tensors)
