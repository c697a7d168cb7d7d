"""Maximally activating patches (lecture 21.3.1): the top positions of a unit's maps over an
image set, and crops of the unit's receptive field around them."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vizlab.analysis.unit_boxes import UnitGeometry


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
    canvas = torch.full((3, geometry.size, geometry.size), 0.5, device=image.device)
    if y1 > y0 and x1 > x0:
        canvas[:, y0 - top : y1 - top, x0 - left : x1 - left] = image[:, y0:y1, x0:x1]
    return F.interpolate(canvas[None], size=(px, px), mode="bilinear", antialias=True)[0]
