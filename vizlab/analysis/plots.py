"""Figures shared by the weight, activation and image-set methods: tile grids with coloured
titles and row labels, nearest-neighbour upsampling of tiny tiles, thumbnail scatter plots."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

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
