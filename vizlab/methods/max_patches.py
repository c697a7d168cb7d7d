"""Maximally activating patches (lecture 21.3.1): for each chosen unit (channel) of a layer,
run an image set through the network, rank the unit's activations over all images and
positions, and crop the top-k input patches to the unit's receptive field, with their values.

Boxes come from :func:`vizlab.analysis.unit_boxes.unit_geometry` (receptive-field stride and
size, centre offset measured on the linearized network); they are clipped to the image, and the
part of the field outside the image is drawn gray so every tile of a unit has one scale. With
``one_per_image`` (default) each image contributes its best position only, so the top-k are k
different images rather than k neighbouring positions of one image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vizlab.analysis.features import extract_maps
from vizlab.analysis.patches import crop_patch, inside_mask, top_positions
from vizlab.analysis.plots import tile_figure
from vizlab.analysis.unit_boxes import unit_geometry
from vizlab.errors import VizlabError
from vizlab.methods.base import Method, Result, RunContext
from vizlab.methods.image_set_options import ImageSetOptions
from vizlab.plotting import grid
from vizlab.schema import check_positive


@dataclass
class MaxPatchesOptions(ImageSetOptions):
    name: str
    num_units: int
    k: int
    one_per_image: bool
    inside_only: bool
    crop_size: int | None
    tile_px: int

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive("num_units", self.num_units, integer=True)
        check_positive("k", self.k, integer=True)
        if self.crop_size is not None:
            check_positive("crop_size", self.crop_size, integer=True)
        check_positive("tile_px", self.tile_px, integer=True)


class MaxPatches(Method):
    name = "max_patches"
    description = "Top-k image patches per unit over an image set, cropped to the RF (21.3.1)"
    Options = MaxPatchesOptions

    def run(self, ctx: RunContext) -> Result:
        opts: MaxPatchesOptions = ctx.options
        model = ctx.model
        layer = ctx.target.layer
        images = opts.load(model.spec)
        k, one = opts.k, opts.one_per_image
        if one and k > len(images):
            raise VizlabError(
                f"method.k={k} must be between 1 and the number of images ({len(images)}) when "
                "method.one_per_image=true (each image gives one patch); set "
                "one_per_image=false for several positions per image."
            )
        hw = tuple(images.images.shape[-2:])
        probe = extract_maps(model, images.images[:1], layer, None, 1)
        num_channels = probe.shape[1]
        units = ctx.target.indices or list(range(min(num_channels, opts.num_units)))
        bad = [u for u in units if not 0 <= u < num_channels]
        if bad:
            raise VizlabError(
                f"target.index={bad} out of range: '{layer}' has {num_channels} channels "
                f"(valid 0..{num_channels - 1})."
            )
        maps = extract_maps(model, images.images, layer, units, opts.batch_size)
        geometry = unit_geometry(model, layer, hw, opts.crop_size)
        px = opts.tile_px
        inside = inside_mask(geometry, maps.shape[-2:], hw) if opts.inside_only else None
        scores = maps
        if inside is not None and inside.any():
            scores = maps.masked_fill(~inside, float("-inf"))
        tiles, titles, row_labels, top_values, distinct = [], [], [], [], []
        for u, unit in enumerate(units):
            found = top_positions(scores[:, u], k, one)
            values = [float(maps[n, u, i, j]) for n, i, j in found]
            top_values.append(values)
            if images.labels is not None:
                distinct.append(len({int(images.labels[n]) for n, _, _ in found}) / len(found))
            for (n, i, j), value in zip(found, values):
                tiles.append(crop_patch(images.images[n], geometry, i, j, px))
                titles.append(f"{value:.3g}\n{_short(images.names[n])}")
            row_labels.append(f"ch {unit}")
        tiles_t = torch.stack(tiles)
        title = (
            f"{model.name} {layer}: top-{k} patches per channel over {len(images)} images "
            f"({opts.image_set})\nreceptive field {geometry.size}px, stride "
            f"{geometry.stride}, centre offset {geometry.offset_y:g}px; value = activation"
        )
        metrics = {
            "layer": layer,
            "image_set": opts.image_set,
            "num_images": len(images),
            "units": units,
            "k": k,
            "rf_size": geometry.size,
            "rf_stride": geometry.stride,
            "rf_offset_y": geometry.offset_y,
            "rf_offset_x": geometry.offset_x,
            "inside_only": bool(inside is not None and inside.any()),
            "top_activation_mean": float(np.mean([v[0] for v in top_values])),
            "topk_activation_mean": float(np.mean(top_values)),
            "unit_max_activation": [v[0] for v in top_values],
        }
        if distinct:
            metrics["distinct_label_fraction"] = float(np.mean(distinct))
        figure = tile_figure(tiles_t, titles, k, title, row_labels=row_labels, tile_inches=1.45)
        return Result(
            images={"patches": grid(tiles_t, nrow=k)},
            metrics=metrics,
            figures={"patches_labelled": figure},
            tensors={"maps": maps, "patches": tiles_t},
        )


def _short(name: str, limit: int = 20) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "~"
