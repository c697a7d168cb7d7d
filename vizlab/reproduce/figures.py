"""Figures laid out like the papers': image tiles with named rows and columns, and the
per-layer curves of M&V Figs. 6-7. Every function returns a ``matplotlib.figure.Figure``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

TILE_INCHES = 1.25


def _as_image(tile: torch.Tensor | np.ndarray) -> np.ndarray:
    array = tile.detach().cpu().float().numpy() if isinstance(tile, torch.Tensor) else tile
    if array.ndim == 3 and array.shape[0] in (1, 3):
        array = array.transpose(1, 2, 0)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    return np.clip(array, 0.0, 1.0)


def tile_figure(
    rows: Sequence[str],
    cols: Sequence[str],
    tiles: Mapping[tuple[str, str], torch.Tensor | np.ndarray],
    title: str,
    captions: Mapping[tuple[str, str], str] | None = None,
) -> Figure:
    """A rows x cols grid of images, row names on the left, column names on top (as the
    papers' figures name layers, C, models or classes); missing cells stay blank."""
    captions = captions or {}
    # Fixed margins in inches, so square tiles never overlap whatever the rows x cols shape
    # (tight_layout let the rows of wide figures cover the captions of the row above).
    left, top, bottom, gap = 0.45, 0.55, 0.1, 0.06
    below = 0.16 if captions else 0.0  # room for the caption under each tile
    width = left + len(cols) * TILE_INCHES + (len(cols) - 1) * gap + 0.05
    row_pitch = TILE_INCHES + below + gap
    height = top + len(rows) * row_pitch - gap + bottom
    fig = Figure(figsize=(width, height))
    axes = fig.subplots(
        len(rows),
        len(cols),
        squeeze=False,
        gridspec_kw={
            "left": left / width,
            "right": 1 - 0.05 / width,
            "top": 1 - top / height,
            "bottom": (bottom + below) / height,
            "wspace": gap / TILE_INCHES,
            "hspace": (below + gap) / TILE_INCHES,
        },
    )
    for i, row in enumerate(rows):
        for j, col in enumerate(cols):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if (row, col) in tiles:
                ax.imshow(_as_image(tiles[row, col]), cmap="gray", vmin=0, vmax=1)
            if (row, col) in captions:
                ax.set_xlabel(captions[row, col], fontsize=6.5, labelpad=1)
            if i == 0:
                ax.set_title(col, fontsize=7.5)
            if j == 0:  # "photo, layer" on two lines: a tile is only 1.25 in tall
                ax.set_ylabel(row.replace(", ", "\n"), fontsize=7.5)
    fig.suptitle(title, fontsize=9, y=1 - 0.08 / height, va="top")
    return fig


def layer_curves(
    layers: Sequence[str],
    panels: Sequence[tuple[str, Mapping[str, Sequence[float | None]], Mapping | None]],
    title: str,
) -> Figure:
    """One panel per quantity, one line per C over the layers (M&V Figs. 6 and 7);
    ``panels`` holds (y label, {series: values by layer}, {series: error bars} or None)."""
    fig = Figure(figsize=(4.2 * len(panels), 3.2))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    x = np.arange(len(layers))
    for ax, (label, series, errors) in zip(axes, panels):
        for name, values in series.items():
            y = np.array([np.nan if v is None else v for v in values], dtype=float)
            err = None
            if errors and name in errors:
                err = np.array([np.nan if e is None else e for e in errors[name]], dtype=float)
            ax.errorbar(x, y, yerr=err, marker="o", ms=3, capsize=2, label=name)
        ax.set_xticks(x, layers, rotation=45, ha="right", fontsize=7)
        ax.set_ylabel(label, fontsize=8)
        if "consistency" in label or "intersection" in label:  # fractions: the full 0..1 range
            ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
