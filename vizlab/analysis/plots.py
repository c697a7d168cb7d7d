"""Figures shared by the weight, activation and image-set methods: tile grids with coloured
titles and row labels, nearest-neighbour upsampling of tiny tiles, thumbnail scatter plots."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from vizlab.data.image_sets import ImageSet
from vizlab.plotting import to_numpy_image


def enlarge(tiles: torch.Tensor, min_px: int) -> torch.Tensor:
    """N x C x h x w tiles blown up by an integer factor (nearest) to at least ``min_px``."""
    factor = max(1, -(-min_px // max(tiles.shape[-2:])))
    return F.interpolate(tiles, scale_factor=factor, mode="nearest") if factor > 1 else tiles


def tile_figure(
    tiles: torch.Tensor,
    titles: Sequence[str],
    ncols: int,
    title: str | None = None,
    colors: Sequence[str] | None = None,
    row_labels: Sequence[str] | None = None,
    tile_inches: float = 1.5,
    fontsize: int = 8,
) -> Figure:
    """One axis per tile (N x 3 x H x W in [0, 1]), titles optionally coloured, optional
    labels on the left of each row."""
    n = tiles.shape[0]
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig = Figure(
        figsize=(tile_inches * ncols + (0.5 if row_labels else 0), tile_inches * nrows + 0.5)
    )
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        if i < n:
            ax.imshow(to_numpy_image(tiles[i]), interpolation="nearest")
            ax.set_title(titles[i], fontsize=fontsize, color=colors[i] if colors else "black")
    if row_labels:
        for r, label in enumerate(row_labels[:nrows]):
            axes[r, 0].set_ylabel(label, fontsize=fontsize + 1)
    if title:
        fig.suptitle(title, fontsize=fontsize + 3)
    fig.tight_layout()
    return fig


def thumbnails_scatter(
    ax,
    points: np.ndarray,
    images: torch.Tensor,
    edge_colors: Sequence | None = None,
    zoom_px: int = 28,
):
    """Draw each image as a small thumbnail at its 2-D position (lecture Fig. 21.4)."""
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    thumbs = F.interpolate(images.float(), size=(zoom_px, zoom_px), mode="area")
    ax.scatter(points[:, 0], points[:, 1], s=0)
    for k, (x, y) in enumerate(points):
        box = OffsetImage(to_numpy_image(thumbs[k]), zoom=1.0)
        color = edge_colors[k] if edge_colors is not None else "white"
        ab = AnnotationBbox(box, (x, y), frameon=True, pad=0.1, bboxprops={"edgecolor": color})
        ax.add_artist(ab)
    ax.set_xticks([])
    ax.set_yticks([])


def _colors(images: ImageSet):
    if images.labels is None:
        return None, []
    cmap = matplotlib.colormaps["tab10" if images.labels.max() < 10 else "tab20"]
    names = images.label_names or [str(i) for i in range(images.labels.max() + 1)]
    return [cmap(int(k) % cmap.N) for k in images.labels], [
        (cmap(k % cmap.N), names[k]) for k in np.unique(images.labels)
    ]


def _title(space: str, algo: str, what: str) -> str:
    where = "raw pixels" if space == "pixel" else what
    return f"{'PCA' if algo == 'pca' else 't-SNE'} of {where}"


def embedding_scatter(
    points: dict[tuple[str, str], np.ndarray], images: ImageSet, what: str
) -> Figure:
    """PCA and t-SNE scatter plots (one row per space: pixel, feature) coloured by label."""
    spaces = sorted({s for s, _ in points}, key=("pixel", "feature").index)
    fig = Figure(figsize=(11, 5 * len(spaces)))
    axes = fig.subplots(len(spaces), 2, squeeze=False)
    colors, legend = _colors(images)
    for r, space in enumerate(spaces):
        for c, algo in enumerate(("pca", "tsne")):
            ax, p = axes[r, c], points[space, algo]
            ax.scatter(p[:, 0], p[:, 1], c=colors, s=18, alpha=0.85, edgecolors="none")
            ax.set_title(_title(space, algo, what), fontsize=11)
            ax.set_xticks([])
            ax.set_yticks([])
    if legend:
        handles = [Line2D([], [], marker="o", ls="", color=col, label=name) for col, name in legend]
        fig.legend(handles=handles, loc="lower center", ncol=min(8, len(handles)), fontsize=9)
    fig.suptitle(f"Image-set embedding ({len(images)} images)", fontsize=12)
    fig.tight_layout(rect=(0, 0.06 if legend else 0, 1, 1))
    return fig


def embedding_thumbnails(
    points: dict[tuple[str, str], np.ndarray], images: ImageSet, space: str, what: str, px: int
) -> Figure:
    """The PCA and t-SNE maps of one space drawn with image thumbnails (lecture Fig. 21.4)."""
    fig = Figure(figsize=(16, 8))
    axes = fig.subplots(1, 2, squeeze=False)
    colors, _ = _colors(images)
    for c, algo in enumerate(("pca", "tsne")):
        ax = axes[0, c]
        thumbnails_scatter(ax, points[space, algo], images.images, colors, px)
        ax.set_title(_title(space, algo, what) + " (frame colour = label)", fontsize=11)
    fig.tight_layout()
    return fig
