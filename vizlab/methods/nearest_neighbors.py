"""Nearest neighbours in pixel space vs feature space (lecture 21.2.1): for query images of an
image set, the k nearest others by L2 distance on raw pixels and on a layer's features
(default the pooled pre-logit features), and -- when the set has labels -- the fraction of
neighbours that share the query's label in each space, over every image as a query."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vizlab.analysis.features import POOLS, extract_features
from vizlab.analysis.neighbors import chance_agreement, label_agreement, neighbours
from vizlab.analysis.plots import tile_figure
from vizlab.data.image_sets import ImageSet, evenly_spaced
from vizlab.errors import VizlabError
from vizlab.methods.base import Method, Result, RunContext
from vizlab.methods.image_set_options import ImageSetOptions
from vizlab.plotting import grid
from vizlab.schema import check_choice, check_positive


@dataclass
class NearestNeighborsOptions(ImageSetOptions):
    name: str
    pool: str
    k: int
    num_queries: int

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("pool", self.pool, POOLS)
        check_positive("k", self.k, integer=True)
        check_positive("num_queries", self.num_queries, integer=True)


class NearestNeighbors(Method):
    name = "nearest_neighbors"
    description = "k nearest images in pixel vs feature space, label agreement (21.2.1)"
    Options = NearestNeighborsOptions

    def run(self, ctx: RunContext) -> Result:
        opts: NearestNeighborsOptions = ctx.options
        model = ctx.model
        layer = ctx.target.layer
        images = opts.load(model.spec)
        k = opts.k
        if k >= len(images):
            raise VizlabError(
                f"method.k={k} must be between 1 and {len(images) - 1} (the image set has "
                f"{len(images)} images)."
            )
        pool = opts.pool
        feats = extract_features(model, images.images, layer, pool, opts.batch_size)
        spaces = {"pixel": images.images.flatten(1).numpy(), "feature": feats.numpy()}
        found = {space: neighbours(x, k) for space, x in spaces.items()}
        metrics: dict = {
            "layer": layer,
            "pool": pool,
            "image_set": opts.image_set,
            "num_images": len(images),
            "k": k,
            "pixel_dim": spaces["pixel"].shape[1],
            "feature_dim": spaces["feature"].shape[1],
        }
        if images.labels is not None:
            labels = images.labels
            metrics["num_labels"] = int(len(np.unique(labels)))
            metrics["label_agreement_chance"] = chance_agreement(labels)
            for space, (idx, _) in found.items():
                metrics[f"label_agreement_{space}"] = label_agreement(labels, idx)
                metrics[f"nn1_agreement_{space}"] = label_agreement(labels, idx[:, :1])
        queries = evenly_spaced(len(images), opts.num_queries)
        result = Result(metrics=metrics, tensors={"features": feats})
        for space, (idx, dist) in found.items():
            tiles, titles, colors = self._rows(images, queries, idx, dist)
            result.images[f"grid_{space}"] = grid(tiles, nrow=k + 1)
            title = (
                f"{k} nearest neighbours in {space} space"
                + (f" ({model.name} {layer}, {pool}-pooled)" if space == "feature" else "")
                + (
                    f"\nlabel agreement {metrics[f'label_agreement_{space}']:.1%} over all "
                    f"{len(images)} queries (chance {metrics['label_agreement_chance']:.1%})"
                    if images.labels is not None
                    else ""
                )
            )
            result.figures[f"neighbors_{space}"] = tile_figure(
                tiles, titles, k + 1, title, colors, tile_inches=1.6
            )
            result.tensors[f"neighbors_{space}"] = torch.from_numpy(idx)
        return result

    @staticmethod
    def _rows(images: ImageSet, queries, idx, dist):
        """Tiles of each query followed by its neighbours; titles coloured green when the
        neighbour shares the query's label, red when not."""
        tiles, titles, colors = [], [], []
        for q in queries:
            tiles.append(images.images[q])
            titles.append(f"query {images.label_of(q) or images.names[q]}")
            colors.append("blue")
            for n, d in zip(idx[q], dist[q]):
                tiles.append(images.images[n])
                label = images.label_of(n)
                titles.append(f"{label or images.names[n]}\nd={d:.3g}")
                if images.labels is None:
                    colors.append("black")
                else:
                    colors.append("green" if images.labels[n] == images.labels[q] else "red")
        return torch.stack(tiles), titles, colors
