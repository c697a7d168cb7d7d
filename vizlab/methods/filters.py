"""Filter weights (lecture 21.1): first-layer kernels C_out x 3 x K x K as RGB tiles (21.1.1),
any other convolution as a grid of per-input-channel K x K slices, one row per filter
(21.1.2). Each filter is normalized on its own (``method.normalize``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from matplotlib.figure import Figure

from vizlab.analysis.plots import enlarge, tile_figure
from vizlab.analysis.weights import NORMALIZE, conv_weight, normalize
from vizlab.methods.base import Method, Result, RunContext
from vizlab.plotting import grid
from vizlab.schema import check_choice, check_positive


@dataclass
class FiltersOptions:
    name: str
    normalize: str
    max_filters: int
    max_channels: int
    tile_px: int
    ncols: int
    seed: int

    def __post_init__(self) -> None:
        check_choice("normalize", self.normalize, NORMALIZE)
        for key in ("max_filters", "max_channels", "tile_px", "ncols"):
            check_positive(key, getattr(self, key), integer=True)


class Filters(Method):
    name = "filters"
    description = "Conv kernels: first layer as RGB tiles, deeper ones as channel slices (21.1)"
    Options = FiltersOptions

    def run(self, ctx: RunContext) -> Result:
        opts: FiltersOptions = ctx.options
        model = ctx.model
        layer = str(ctx.cfg.target.layer)
        weight = conv_weight(model, layer)
        indices = ctx.target.indices or list(range(min(weight.shape[0], opts.max_filters)))
        mode = opts.normalize
        shown = normalize(weight, mode)[indices]
        c_out, c_in, kh, kw = weight.shape
        shape = f"{c_out}x{c_in}x{kh}x{kw}"
        norms = weight.flatten(1).norm(dim=1)
        metrics = {
            "layer": layer,
            "weight_shape": shape,
            "num_filters": c_out,
            "in_channels_per_filter": c_in,
            "kernel_size": kh,
            "num_shown": len(indices),
            "normalize": mode,
            "filter_l2_mean": float(norms.mean()),
            "filter_l2_min": float(norms.min()),
            "filter_l2_max": float(norms.max()),
            "dead_filters": int((norms < 1e-6 * norms.max()).sum()),  # |w| ~ 0: noise if shown
        }
        tile_px, ncols = opts.tile_px, opts.ncols
        if c_in in (1, 3):  # RGB tiles (21.1.1); depthwise kernels as grayscale tiles
            tiles = enlarge(shown.expand(-1, 3, -1, -1), tile_px)
            kind = "RGB" if c_in == 3 else "grayscale (depthwise)"
            title = f"{model.name} {layer}: {shape} filters as {kind} ({mode} normalization)"
            dead = norms < 1e-6 * norms.max()
            labels = [f"#{i} |w|={norms[i]:.2g}" + (" dead" if dead[i] else "") for i in indices]
            figure = tile_figure(tiles, labels, ncols, title)
            return Result(
                images={"filters": grid(tiles, nrow=ncols)},
                metrics=metrics,
                figures={"filters_labelled": figure},
                tensors={"weight": weight},
            )
        channels = list(range(min(c_in, opts.max_channels)))
        slices = shown[:, channels]
        gutter = 1 if max(kh, kw) > 1 else 0
        mosaic = _mosaic(slices, gutter)
        title = (
            f"{model.name} {layer}: {shape} kernels as per-input-channel slices\n"
            f"(first {len(indices)} filters x {len(channels)} input channels, {mode} normalization)"
        )
        figure = _slice_figure(mosaic, slices.shape, gutter, indices, channels, title)
        metrics["num_channels_shown"] = len(channels)
        rgb = enlarge(mosaic[None, None].repeat(1, 3, 1, 1), 256)[0]
        return Result(
            images={"filters": rgb.permute(1, 2, 0).numpy()},
            metrics=metrics,
            figures={"filters_labelled": figure},
            tensors={"weight": weight},
        )


def _mosaic(slices: torch.Tensor, gutter: int) -> torch.Tensor:
    """F x C x K x K slices as one grayscale image: row f = filter f, column c = input
    channel c, white gutters between tiles."""
    f, c, kh, kw = slices.shape
    out = torch.ones(f * (kh + gutter) - gutter, c * (kw + gutter) - gutter)
    for r in range(f):
        for k in range(c):
            y, x = r * (kh + gutter), k * (kw + gutter)
            out[y : y + kh, x : x + kw] = slices[r, k]
    return out


def _slice_figure(mosaic, shape, gutter, indices, channels, title) -> Figure:
    f, c, kh, kw = shape
    width = min(16.0, max(5.0, 0.45 * c + 2))
    height = min(16.0, max(3.5, width * mosaic.shape[0] / mosaic.shape[1] + 1))
    fig = Figure(figsize=(width, height))
    ax = fig.subplots()
    ax.imshow(mosaic.numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    step = max(1, math.ceil(max(f, c) / 32))
    ax.set_yticks([r * (kh + gutter) + (kh - 1) / 2 for r in range(0, f, step)])
    ax.set_yticklabels([str(indices[r]) for r in range(0, f, step)], fontsize=8)
    ax.set_xticks([k * (kw + gutter) + (kw - 1) / 2 for k in range(0, c, step)])
    ax.set_xticklabels([str(channels[k]) for k in range(0, c, step)], fontsize=8)
    ax.set_ylabel("filter (output channel)")
    ax.set_xlabel("input channel")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
