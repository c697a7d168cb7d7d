"""Image grids, plots and heat maps that people would rather look at than read.

Every figure is a :class:`matplotlib.figure.Figure` built without pyplot, so library use and
in-process sweeps never leave open figures behind; loggers save them with ``savefig``."""

from __future__ import annotations

import importlib
import math
import re
import textwrap
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from matplotlib import ticker  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from torchvision.utils import make_grid  # noqa: E402


def __getattr__(name: str) -> Any:
    """``plt`` (pyplot) stays importable from here for older plugins, imported on first use:
    vizlab's own figures never need it (and a run need not pay for importing it)."""
    if name == "plt":
        return importlib.import_module("matplotlib.pyplot")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


# ----- heat maps ------------------------------------------------------------------------------
def minmax(x: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """Min-max scaling to [0, 1] over ``dims`` (constant maps become 0)."""
    lo = x.amin(dim=dims, keepdim=True)
    hi = x.amax(dim=dims, keepdim=True)
    return (x - lo) / (hi - lo).clamp_min(1e-12)


def check_colormap(key: str, value: str) -> None:
    """A schema check: ``value`` names a matplotlib colour map (raises with the names)."""
    from vizlab.schema import check_choice

    check_choice(key, value, sorted(matplotlib.colormaps))


def colorize(maps01: torch.Tensor, cmap: str = "jet") -> torch.Tensor:
    """N x H x W values in [0, 1] -> N x 3 x H x W RGB through a matplotlib colour map
    (a 256-entry lookup table)."""
    lut = torch.tensor(matplotlib.colormaps[cmap](np.linspace(0, 1, 256))[:, :3]).float()
    idx = (maps01.detach().float().cpu().clamp(0, 1) * 255).round().long()
    return lut[idx].permute(0, 3, 1, 2)


def resize_maps(maps: torch.Tensor, size: Sequence[int], mode: str = "bilinear") -> torch.Tensor:
    """N x h x w maps resized to ``size`` (``nearest`` keeps the cells visible)."""
    kwargs = {"align_corners": False} if mode in ("bilinear", "bicubic") else {}
    return F.interpolate(maps[:, None].float(), size=tuple(size), mode=mode, **kwargs)[:, 0]


def heat_overlay(
    photos: torch.Tensor,
    maps01: torch.Tensor,
    cmap: str = "jet",
    alpha: float = 0.6,
    weighted: bool = True,
) -> torch.Tensor:
    """Maps in [0, 1] (N x H x W, the photos' size) coloured and blended over N x 3 x H x W
    photos: with ``weighted`` the opacity is ``alpha`` times the value, so weak responses
    leave the photo visible; else a constant ``alpha``."""
    maps01 = maps01.detach().float().cpu().clamp(0, 1)
    heat = colorize(maps01, cmap)
    w = alpha * maps01.unsqueeze(1) if weighted else alpha
    return photos.detach().float().cpu() * (1 - w) + heat * w


# ----- figures --------------------------------------------------------------------------------
def labelled_grid(
    images: torch.Tensor,
    labels: Sequence[str],
    ncols: int,
    title: str | None = None,
    tile_inches: float = 2.2,
) -> Figure:
    """A figure with one titled tile per image."""
    n = images.shape[0]
    ncols = max(1, min(ncols, n))
    nrows = (n + ncols - 1) // ncols
    # Every size is known in inches (square tiles, 8 pt tile titles ~0.16 inch per line, a
    # 10 pt suptitle ~0.2 inch per line), so the tiles are placed directly: a layout engine
    # would draw the whole figure once more to measure it, which doubles the cost of saving.
    lines = max((str(label).count("\n") + 1 for label in labels[:n]), default=1)
    width = tile_inches * ncols
    if title:  # wrapped to the figure width (10 pt: ~12 characters per inch), never clipped
        chars = max(16, int(12 * width))
        title = "\n".join(textwrap.fill(line, chars) for line in str(title).split("\n"))
    title_lines = title.count("\n") + 1 if title else 0
    label_band = 0.16 * lines
    top_band = 0.2 * title_lines + (0.2 if title else 0.0)
    height = nrows * (tile_inches + label_band) + top_band
    side = tile_inches - 2 * _TILE_PAD
    fig = Figure(figsize=(width, height))
    for i in range(n):
        row, col = divmod(i, ncols)
        left = col * tile_inches + _TILE_PAD
        below_top = top_band + row * (tile_inches + label_band) + label_band + _TILE_PAD + side
        ax = fig.add_axes((left / width, 1 - below_top / height, side / width, side / height))
        ax.axis("off")
        ax.imshow(to_numpy_image(images[i]))
        # y given: matplotlib then skips measuring the (hidden) axis to place the title.
        ax.set_title(labels[i], fontsize=8, pad=3, y=1.0)
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 0.08 / height, va="top")
    return fig


_TILE_PAD = 0.04
"""Inches between a tile's image and the edges of its cell."""


def curves(history: dict[str, list[float]], title: str = "energy terms") -> Figure:
    """Per-step curves of the energy terms (log scale where positive). The margins are fixed
    (0.8 inch left for the tick labels, 0.5 below, 0.35 above for the title, 0.15 right or
    0.75 with a right axis): a layout engine would draw the figure once more to measure it,
    which doubles the cost of saving."""
    # The energy is penalties + C * data (M&V Eq. 1 with Sect. 3.3's C), so next to the energy the
    # unweighted data term is C times smaller and would look flat: it gets its own right axis.
    data_axis = "data" in history and len(history) > 1
    width, height = 6.0, 3.5
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(
        left=0.8 / width,
        right=1 - (0.75 if data_axis else 0.15) / width,
        bottom=0.5 / height,
        top=1 - 0.35 / height,
    )
    ax = fig.subplots()
    left = {k: v for k, v in history.items() if not (data_axis and k == "data")}
    lines = [ax.plot(values, label=name)[0] for name, values in left.items()]
    log_scale(ax, [v for vals in left.values() for v in vals])
    if data_axis:
        right = ax.twinx()
        values = history["data"]
        lines += right.plot(values, "--", color="0.35", label="data (right axis)")
        log_scale(right, values)
        right.tick_params(labelsize=8)
    ax.set_xlabel("iteration")
    ax.set_title(title, y=1.0)  # y given: no measuring of the tick labels to place the title
    ax.legend(handles=lines, fontsize=8)
    return fig


_SUPERSCRIPT = str.maketrans(
    "-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"
)


def _power_of_ten(value: float, _pos: int | None = None) -> str:
    """``10^k`` with Unicode superscripts, as plain text (no mathtext parse per label)."""
    if value <= 0:
        return ""
    return "10" + str(round(math.log10(value))).translate(_SUPERSCRIPT)


class PlainLogFormatter(ticker.LogFormatterSciNotation):
    """matplotlib's log tick labels (the same ticks labelled, the same ``2×10⁻¹``) written in
    plain Unicode instead of mathtext: parsing and laying out a mathtext label per tick is
    most of the cost of drawing a narrow log axis, whose minor ticks are labelled."""

    def __call__(self, x: float, pos: int | None = None) -> str:
        label = super().__call__(x, pos)
        if not (label.startswith(_MATHTEXT_OPEN) and label.endswith("}$")):
            return label
        body = label[len(_MATHTEXT_OPEN) : -2].replace(r"\times", "\u00d7")
        return _EXPONENT.sub(lambda m: m.group(1).translate(_SUPERSCRIPT), body)


_MATHTEXT_OPEN = r"$\mathdefault{"
_EXPONENT = re.compile(r"\^\{(-?\d+)\}")


def log_scale(ax: Any, values: Sequence[float], min_decades: float = 2.0) -> None:
    """A log y scale for ``ax`` when every value is positive and finite. Curves spanning at
    least ``min_decades`` decades get decade ticks only, labelled ``10^k`` in plain text: the
    minor ticks and the mathtext labels of matplotlib's default log axis cost about half of
    drawing an energy plot and say little over several decades. Narrower curves keep the
    default ticks, whose minor labels are then the only ones in range, and their labels in
    plain text (:class:`PlainLogFormatter`)."""
    if not values or not all(0 < v < math.inf for v in values):
        return
    ax.set_yscale("log")
    if math.log10(max(values) / min(values)) >= min_decades:
        ax.yaxis.set_minor_locator(ticker.NullLocator())
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(_power_of_ten))
    else:  # the formatters matplotlib's log scale sets (base 10, minor labels allowed)
        ax.yaxis.set_major_formatter(PlainLogFormatter(10))
        ax.yaxis.set_minor_formatter(PlainLogFormatter(10, labelOnlyBase=False))
        ax.yaxis.set_major_locator(InView(ax.yaxis.get_major_locator()))
        ax.yaxis.set_minor_locator(InView(ax.yaxis.get_minor_locator()))


class InView(ticker.Locator):
    """``locator``'s ticks within the axis' view only. A log locator also returns the ticks of
    a decade beyond each end, which matplotlib builds (a tick is two lines and two texts) and
    then leaves undrawn: on a narrow log axis, three in four of its minor ticks."""

    def __init__(self, locator: ticker.Locator):
        self.locator = locator

    def set_axis(self, axis: Any) -> None:
        super().set_axis(axis)
        self.locator.set_axis(axis)

    def __call__(self) -> Any:
        low, high = sorted(self.axis.get_view_interval())
        locs = np.asarray(self.locator())
        slack = 1e-9 * (abs(low) + abs(high))  # matplotlib draws ticks on the limits too
        return locs[(locs >= low - slack) & (locs <= high + slack)]

    def tick_values(self, vmin: float, vmax: float) -> Any:
        return self.locator.tick_values(vmin, vmax)

    def nonsingular(self, v0: float, v1: float) -> tuple[float, float]:
        return self.locator.nonsingular(v0, v1)

    def view_limits(self, vmin: float, vmax: float) -> tuple[float, float]:
        return self.locator.view_limits(vmin, vmax)
