"""The input box a feature-map unit sees, for cropping maximally activating patches
(lecture 21.3.1, step 4).

Unit (i, j) of a layer with receptive-field stride s and size r is centred at input pixel
(offset_y + s*i, offset_x + s*j) and covers r x r pixels around it. Stride and size come from
``VisionModel.receptive_field``; the offset is measured here on the same linearized network
(activations and norms removed, positive weights, all-ones input), whose input-gradient support
of a unit is exactly its receptive field clipped to the image. The offset depends on the
padding, so it is measured at the working image size:

* symmetric padding (PyTorch convs, e.g. timm's ``test_efficientnet``): offset 0, unit i is
  centred at s*i;
* TF-"same" padding (timm's ``tf_`` EfficientNets) pads a stride-2 layer with an even input
  only after the image, so windows start at pixel 0 and centres sit down/right: at 224 px
  EfficientNet-Lite0 measures offset s - 1 (1, 3, 7, 15 px for strides 2, 4, 8, 16), at 100 px
  (odd intermediate sizes) 3 px for strides 8 and 16.

If the field is larger than the image on both sides (e.g. blocks.5 at 224 px) no edge is
visible and centres are spread symmetrically; the clipped box is then the whole image anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vizlab.models.receptive_field import linearized_copy
from vizlab.models.wrapper import VisionModel, forward_until


@dataclass(frozen=True)
class UnitGeometry:
    """Centre of unit (0, 0), stride and box size in input pixels."""

    stride: int
    size: int
    offset_y: float
    offset_x: float

    def box(self, i: int, j: int, hw: tuple[int, int]) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) of unit (i, j)'s box clipped to an image of size ``hw``
        (bottom/right exclusive)."""
        top, left, bottom, right = self.full_box(i, j)
        return max(0, top), max(0, left), min(hw[0], bottom), min(hw[1], right)

    def full_box(self, i: int, j: int) -> tuple[int, int, int, int]:
        """The unclipped box (may extend past the image borders)."""
        half = (self.size - 1) / 2
        top = round(self.offset_y + self.stride * i - half)
        left = round(self.offset_x + self.stride * j - half)
        return top, left, top + self.size, left + self.size


def _support(grad: torch.Tensor) -> tuple[int, int, int, int]:
    mask = grad.abs().sum(dim=(0, 1)) > 0
    rows = torch.nonzero(mask.any(dim=1)).flatten()
    cols = torch.nonzero(mask.any(dim=0)).flatten()
    return int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])


def _forward_to(probe: torch.nn.Module, layer: str, x: torch.Tensor) -> torch.Tensor:
    """Output of ``layer`` (or of its nearest surviving parent) in the linearized ``probe``."""
    modules = dict(probe.named_modules())
    name = layer
    while name not in modules and "." in name:  # linearized away (e.g. an activation)
        name = name.rsplit(".", 1)[0]
    return forward_until(probe, name, x)


def gradient_supports(
    probe: torch.nn.Module, layer: str, hw: tuple[int, int], units: list[tuple[int, int]]
) -> list[tuple[int, int, int, int]]:
    """(top, left, bottom, right) inclusive support of each unit's input gradient in the
    linearized ``probe`` for an all-ones image of size ``hw``; negative indices count from the
    end of the feature map."""
    x = torch.ones(1, 3, *hw, requires_grad=True)
    with torch.enable_grad():
        out = _forward_to(probe, layer, x)
        supports = []
        for i, j in units:
            (grad,) = torch.autograd.grad(out[0, :, i, j].sum(), x, retain_graph=True)
            r0, r1, c0, c1 = _support(grad)
            supports.append((r0, c0, r1, c1))
    return supports


def feature_size(probe: torch.nn.Module, layer: str, hw: tuple[int, int]) -> tuple[int, int]:
    with torch.no_grad():
        out = _forward_to(probe, layer, torch.ones(1, 3, *hw))
    return int(out.shape[-2]), int(out.shape[-1])


def _centre0(first: tuple[int, int], last: tuple[int, int], n: int, extent: int, r: int, s: int):
    """Centre of unit 0 along one axis from the (lo, hi) supports of the first and last unit:
    an edge that is not on the image border is a true edge of the receptive field."""
    half = (r - 1) / 2
    if first[1] < extent - 1:
        return first[1] - half
    if last[0] > 0:
        return last[0] + half - s * (n - 1)
    return (extent - 1 - s * (n - 1)) / 2  # the field covers the image: centre symmetrically


def unit_geometry(
    model: VisionModel, layer: str, hw: tuple[int, int], crop_size: int | None = None
) -> UnitGeometry:
    """Geometry of ``layer``'s units for images of size ``hw`` (see module docstring).

    ViT tokens: stride = patch size and the token's own patch as centre; a token's receptive
    field after the first attention block is the whole image, so boxes there default to 3 x 3
    patches around the token's patch (``crop_size`` overrides the box size everywhere).
    """
    rf = model.receptive_field(layer)
    if model.is_vit:
        size = crop_size or (rf.size if rf.spatial else 3 * rf.stride)
        centre = (rf.stride - 1) / 2
        return UnitGeometry(rf.stride, int(size), centre, centre)
    probe = linearized_copy(model.module).to("cpu")
    h, w = feature_size(probe, layer, hw)
    first, last = gradient_supports(probe, layer, hw, [(0, 0), (-1, -1)])
    oy = _centre0((first[0], first[2]), (last[0], last[2]), h, hw[0], rf.size, rf.stride)
    ox = _centre0((first[1], first[3]), (last[1], last[3]), w, hw[1], rf.size, rf.stride)
    return UnitGeometry(rf.stride, int(crop_size or rf.size), float(oy), float(ox))
