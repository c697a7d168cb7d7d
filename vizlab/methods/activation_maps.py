"""Activation maps (lecture 21.3): a layer's C x H x W feature maps for one photo, each channel
min-max normalized to [0, 1] and shown as a grayscale (or colormapped) tile, optionally
upsampled and overlaid on the photo as a heatmap. ViT token outputs are laid on the patch grid.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vizlab.analysis.features import spatial_map
from vizlab.analysis.plots import colormap, enlarge, minmax, tile_figure
from vizlab.errors import VizlabError
from vizlab.methods.base import Method, Result, RunContext
from vizlab.plotting import grid

SELECT = ("first", "top")


class ActivationMaps(Method):
    name = "activation_maps"
    description = "A layer's feature maps for a photo, min-max normalized, heatmap overlay (21.3)"

    def run(self, ctx: RunContext) -> Result:
        cfg, model = ctx.method_cfg, ctx.model
        layer = ctx.target.layer
        refs = ctx.references
        index = int(cfg.get("image_index", 0))
        if not 0 <= index < len(refs):
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
        tile_px = int(cfg.get("tile_px", 96))
        ncols = int(cfg.get("ncols", 8))
        tiles = enlarge(colormap(shown, str(cfg.get("colormap", "gray"))), tile_px)
        peak = maps[channels].flatten(1).amax(1)
        labels = [f"ch {k}  max {p:.2g}" for k, p in zip(channels, peak.tolist())]
        name = refs.names[index]
        title = f"{model.name} {layer} ({c}x{h}x{w}) on {name}: per-channel min-max"
        images = {"activations": grid(tiles, nrow=ncols), "input": grid(image.cpu(), nrow=1)}
        figures = {"activations_labelled": tile_figure(tiles, labels, ncols, title)}
        if cfg.get("overlay", True):
            overlay = self._overlay(image[0].cpu(), shown, cfg)
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
        cfg = ctx.method_cfg
        n = min(maps.shape[0], int(cfg.get("max_channels", 32)))
        select = str(cfg.get("select", "first"))
        if select not in SELECT:
            raise VizlabError(f"method.select='{select}' is unknown; use {' or '.join(SELECT)}.")
        if select == "top":
            return maps.flatten(1).mean(1).topk(n).indices.tolist()
        return list(range(n))

    @staticmethod
    def _overlay(image: torch.Tensor, shown: torch.Tensor, cfg) -> torch.Tensor:
        """Each normalized map upsampled (bilinear) to the photo and blended over it with an
        opacity that grows with the value (weak responses leave the photo visible)."""
        up = F.interpolate(shown[:, None], size=image.shape[-2:], mode="bilinear")[:, 0]
        up = up.clamp(0, 1)
        heat = colormap(up, str(cfg.get("overlay_colormap", "jet")))
        alpha = float(cfg.get("overlay_alpha", 0.7)) * up[:, None]
        return (1 - alpha) * image[None] + alpha * heat
