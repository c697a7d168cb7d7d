"""Image grids and plots that people would rather look at than read."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torchvision.utils import make_grid  # noqa: E402


def to_numpy_image(image: torch.Tensor) -> np.ndarray:
    """3xHxW tensor in [0, 1] -> HxWx3 float array."""
    return image.detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy()


def grid(images: torch.Tensor, nrow: int, padding: int = 2) -> np.ndarray:
    """An N x 3 x H x W batch in [0, 1] tiled into one HxWx3 array (row-major, ``nrow`` per
    row; white gutters)."""
    tiled = make_grid(
        images.detach().float().cpu().clamp(0, 1), nrow=nrow, padding=padding, pad_value=1.0
    )
    return to_numpy_image(tiled)


def labelled_grid(
    images: torch.Tensor,
    labels: Sequence[str],
    ncols: int,
    title: str | None = None,
    tile_inches: float = 2.2,
):
    """A matplotlib figure with one titled tile per image."""
    n = images.shape[0]
    ncols = max(1, min(ncols, n))
    nrows = (n + ncols - 1) // ncols
    # Size the figure for square tiles plus their title lines (8 pt ~ 0.16 inch per line), so
    # tiles are neither squeezed nor separated by empty bands; constrained layout keeps the
    # suptitle clear of the tile titles.
    lines = max((str(label).count("\n") + 1 for label in labels[:n]), default=1)
    width = tile_inches * ncols
    if title:  # wrapped to the figure width (10 pt: ~12 characters per inch), never clipped
        chars = max(16, int(12 * width))
        title = "\n".join(textwrap.fill(line, chars) for line in str(title).split("\n"))
    title_lines = title.count("\n") + 1 if title else 0
    height = nrows * (tile_inches + 0.16 * lines) + 0.2 * title_lines + (0.2 if title else 0.0)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(width, height), squeeze=False, layout="constrained"
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(to_numpy_image(images[i]))
            ax.set_title(labels[i], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def curves(history: dict[str, list[float]], title: str = "energy terms"):
    """Per-step curves of the energy terms (log scale where positive)."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, values in history.items():
        ax.plot(values, label=name)
    if all(v > 0 for vals in history.values() for v in vals):
        ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
