"""Activation maps (lecture 21.3): a layer's C x H x W feature maps for one photo, each channel
min-max normalized to [0, 1] and shown as a grayscale (or colormapped) tile, optionally
upsampled and overlaid on the photo as a heatmap. ViT token outputs are laid on the patch grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vizlab.analysis.features import spatial_map
from vizlab.analysis.plots import enlarge, tile_figure
from vizlab.errors import VizlabError
from vizlab.methods.base import Method, Result, RunContext
from vizlab.plotting import check_colormap, colorize, grid, heat_overlay, minmax, resize_maps
from vizlab.schema import check_choice, check_positive, check_range

SELECT = ("first", "top")


@dataclass
class ActivationMapsOptions:
    name: str
    image_index: int
    max_channels: int
    select: str
    colormap: str
    overlay: bool
    overlay_alpha: float
    overlay_colormap: str
    tile_px: int
    ncols: int
    seed: int

    def __post_init__(self) -> None:
        check_range("image_index", self.image_index, 0)
        check_positive("max_channels", self.max_channels, integer=True)
        check_choice("select", self.select, SELECT)
        check_colormap("colormap", self.colormap)
        check_colormap("overlay_colormap", self.overlay_colormap)
        check_range("overlay_alpha", self.overlay_alpha, 0.0, 1.0)
        check_positive("tile_px", self.tile_px, integer=True)
        check_positive("ncols", self.ncols, integer=True)


class ActivationMaps(Method):
    name = "activation_maps"
    description = "A layer's feature maps for a photo, min-max normalized, heatmap overlay (21.3)"
    Options = ActivationMapsOptions

    def run(self, ctx: RunContext) -> Result:
        opts: ActivationMapsOptions = ctx.options
        model = ctx.model
        layer = ctx.target.layer
        refs = ctx.references
        index = opts.image_index
        if index >= len(refs):
            raise VizlabError(
                f"method.image_index={index} is out of range: the data config gives {len(refs)} "
                f"image(s) ({', '.join(refs.names)}), so valid values are 0..{len(refs) - 1}."
            )
        image = refs.images[index : index + 1].to(ctx.device)
        with torch.inference_mode():
            act = model.features(model.units.unit_to_model(image), [layer])[layer]
            maps = spatial_map(model, act, layer, tuple(image.shape[-2:]))[0].float().cpu()
        channels = self._channels(ctx, maps)
        shown = minmax(maps[channels], dims=(1, 2))
        c, h, w = maps.shape
        ncols = opts.ncols
        tiles = enlarge(colorize(shown, opts.colormap), opts.tile_px)
        peak = maps[channels].flatten(1).amax(1)
        labels = [f"ch {k}  max {p:.2g}" for k, p in zip(channels, peak.tolist())]
        name = refs.names[index]
        title = f"{model.name} {layer} ({c}x{h}x{w}) on {name}: per-channel min-max"
        images = {"activations": grid(tiles, nrow=ncols), "input": grid(image.cpu(), nrow=1)}
        figures = {"activations_labelled": tile_figure(tiles, labels, ncols, title)}
        if opts.overlay:
            # each map upsampled (bilinear) to the photo, more opaque where it is high
            up = resize_maps(shown, image.shape[-2:]).clamp(0, 1)
            photo = image.cpu().expand(len(up), -1, -1, -1)
            overlay = heat_overlay(photo, up, opts.overlay_colormap, opts.overlay_alpha)
            images["overlay"] = grid(overlay, nrow=ncols)
            figures["overlay_labelled"] = tile_figure(
                overlay, labels, ncols, f"{title}, upsampled over the photo", tile_inches=1.8
            )
        metrics = {
            "layer": layer,
            "image": name,
            "map_shape": f"{c}x{h}x{w}",
            "channels_shown": channels,
            "fraction_positive": float((maps > 0).float().mean()),
            "fraction_zero": float((maps == 0).float().mean()),
            "dead_channels": int((maps.flatten(1).amax(1) <= 0).sum()),
            "mean_activation": float(maps.mean()),
            "top_channels_by_mean": maps.flatten(1).mean(1).topk(min(5, c)).indices.tolist(),
        }
        return Result(images=images, metrics=metrics, figures=figures, tensors={"maps": maps})

    def _channels(self, ctx: RunContext, maps: torch.Tensor) -> list[int]:
        if ctx.target.indices:
            return list(ctx.target.indices)
        n = min(maps.shape[0], ctx.options.max_channels)
        if ctx.options.select == "top":
            return maps.flatten(1).mean(1).topk(n).indices.tolist()
        return list(range(n))
