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

import numpy as np
import torch
import torch.nn.functional as F

from vizlab.analysis.features import extract_maps
from vizlab.analysis.plots import tile_figure
from vizlab.analysis.unit_boxes import UnitGeometry, unit_geometry
from vizlab.data.image_sets import load_image_set
from vizlab.errors import VizlabError
from vizlab.methods.base import Method, Result, RunContext
from vizlab.plotting import grid


def top_positions(maps: torch.Tensor, k: int, one_per_image: bool) -> list[tuple[int, int, int]]:
    """(image, row, col) of the k largest values of N x h x w ``maps``."""
    n, h, w = maps.shape
    if one_per_image:
        best, where = maps.flatten(1).max(1)
        order = best.argsort(descending=True)[:k]
        return [(int(i), int(where[i]) // w, int(where[i]) % w) for i in order]
    flat = maps.flatten().topk(min(k, maps.numel())).indices
    return [(int(f) // (h * w), int(f) % (h * w) // w, int(f) % w) for f in flat]


def inside_mask(geometry: UnitGeometry, map_hw, hw) -> torch.Tensor:
    """h x w mask of the units whose whole receptive field lies inside the image."""
    rows = torch.tensor([geometry.full_box(i, 0)[0::2] for i in range(map_hw[0])])
    cols = torch.tensor([geometry.full_box(0, j)[1::2] for j in range(map_hw[1])])
    ok_rows = (rows[:, 0] >= 0) & (rows[:, 1] <= hw[0])
    ok_cols = (cols[:, 0] >= 0) & (cols[:, 1] <= hw[1])
    return ok_rows[:, None] & ok_cols[None, :]


def crop_patch(image: torch.Tensor, geometry: UnitGeometry, i: int, j: int, px: int):
    """The unit's box of a 3 x H x W image, clipped to the image; the part of the field
    outside the image is gray. Resized to px x px."""
    hw = tuple(image.shape[-2:])
    top, left, bottom, right = geometry.full_box(i, j)
    y0, x0, y1, x1 = geometry.box(i, j, hw)
    canvas = torch.full((3, geometry.size, geometry.size), 0.5)
    if y1 > y0 and x1 > x0:
        canvas[:, y0 - top : y1 - top, x0 - left : x1 - left] = image[:, y0:y1, x0:x1]
    return F.interpolate(canvas[None], size=(px, px), mode="bilinear", antialias=True)[0]


class MaxPatches(Method):
    name = "max_patches"
    description = "Top-k image patches per unit over an image set, cropped to the RF (21.3.1)"

    def run(self, ctx: RunContext) -> Result:
        cfg, model = ctx.method_cfg, ctx.model
        layer = ctx.target.layer
        images = load_image_set(cfg, model.spec)
        k = int(cfg.get("k", 8))
        one = bool(cfg.get("one_per_image", True))
        if k < 1 or (one and k > len(images)):
            raise VizlabError(
                f"method.k={k} must be between 1 and the number of images ({len(images)}) when "
                "method.one_per_image=true (each image gives one patch); set "
                "one_per_image=false for several positions per image."
            )
        hw = tuple(images.images.shape[-2:])
        probe = extract_maps(model, images.images[:1], layer, None, 1)
        num_channels = probe.shape[1]
        units = ctx.target.indices or list(range(min(num_channels, int(cfg.num_units))))
        bad = [u for u in units if not 0 <= u < num_channels]
        if bad:
            raise VizlabError(
                f"target.index={bad} out of range: '{layer}' has {num_channels} channels "
                f"(valid 0..{num_channels - 1})."
            )
        maps = extract_maps(model, images.images, layer, units, int(cfg.get("batch_size", 32)))
        crop = cfg.get("crop_size")
        geometry = unit_geometry(model, layer, hw, int(crop) if crop else None)
        px = int(cfg.get("tile_px", 80))
        inside = inside_mask(geometry, maps.shape[-2:], hw) if cfg.get("inside_only") else None
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
            f"({cfg.get('image_set')})\nreceptive field {geometry.size}px, stride "
            f"{geometry.stride}, centre offset {geometry.offset_y:g}px; value = activation"
        )
        metrics = {
            "layer": layer,
            "image_set": str(cfg.get("image_set")),
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
