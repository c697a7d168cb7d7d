"""HOG as a differentiable network (Mahendran & Vedaldi, Sect. 4.1): gradients -> orientation
binning -> cell histograms -> block normalization, so that the pre-image machinery (inversion,
activation maximization, caricatures) runs on a classical representation as on a CNN layer.

The numerical reference is scikit-image's ``skimage.feature.hog`` (the paper used VLFeat's):
with ``binning="hard"`` this module reproduces ``hog(gray, orientations=9,
pixels_per_cell=(8, 8), cells_per_block=(2, 2), block_norm="L2-Hys")`` of the luminance image
(tested to 1e-5): central differences, unsigned orientations in 9 bins of 20 degrees,
magnitude votes summed over 8 x 8 cells and divided by 64, 2 x 2-cell blocks normalized by
L2, clipped at 0.2 and normalized again. Hard assignment passes gradient only through the
magnitudes; ``binning="bilinear"`` splits each vote between the two nearest orientation bins
(the paper's HOGb, as in SIFT), which is differentiable in the orientation too and, in the
paper, far easier to invert (Table 2: 36.6 % -> 11.5 % error).

Layers for ``target.layer``: ``gray``, ``gradient`` (N x 2 x H x W), ``cells`` (N x 9 x h x w
cell histograms) and ``blocks`` (N x 36 x (h-1) x (w-1), the descriptor; also ``output``).

``model=dsift`` is dense SIFT in the same frame (the paper's DSIFT; Lowe 2004, Sect. 6.1):
8 signed orientations with bilinear votes, bilinear spatial binning into 8 px cells,
descriptors of 4 x 4 cells (128 values) every 8 px, normalized by L2, clipped at 0.2 and
normalized again. There is no dense-SIFT reference on PyPI to compare with numerically (the
paper used VLFeat's ``vl_dsift``); the tests check its construction instead.
It is written with torch functions rather than a chain of conv layers: the ops are tiny and
the module stays readable next to the reference.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vizlab.errors import VizlabError
from vizlab.models.receptive_field import ReceptiveField

LUMINANCE = (0.2125, 0.7154, 0.0721)  # skimage.color.rgb2gray (ITU-R BT.709)


class Gray(nn.Module):
    """RGB -> luminance (N x 1 x H x W); the model input is the [0, 1] image minus 0.5."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = torch.tensor(LUMINANCE, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x * w).sum(1, keepdim=True)


class Gradient(nn.Module):
    """Central differences (g_row, g_col), zero on the border rows/columns as in skimage."""

    def forward(self, g: torch.Tensor) -> torch.Tensor:
        rows = F.pad(g[..., 2:, :] - g[..., :-2, :], (0, 0, 1, 1))
        cols = F.pad(g[..., :, 2:] - g[..., :, :-2], (1, 1, 0, 0))
        return torch.cat([rows, cols], 1)


class CellHistograms(nn.Module):
    """Magnitude-weighted votes into ``orientations`` bins over ``span`` degrees (180:
    unsigned, HOG; 360: signed, SIFT), averaged over cells (``pooling="box"``, HOG) or pooled
    with bilinear spatial weights at the cell centres (``pooling="bilinear"``, SIFT)."""

    def __init__(
        self,
        orientations: int = 9,
        cell: int = 8,
        binning: str = "hard",
        span: float = 180.0,
        pooling: str = "box",
    ):
        super().__init__()
        if binning not in ("hard", "bilinear"):
            raise ValueError(f"binning={binning!r}: use hard or bilinear")
        if pooling not in ("box", "bilinear"):
            raise ValueError(f"pooling={pooling!r}: use box or bilinear")
        self.orientations, self.cell, self.binning = orientations, cell, binning
        self.span, self.pooling = span, pooling

    def forward(self, grad: torch.Tensor) -> torch.Tensor:
        g_row, g_col = grad[:, :1], grad[:, 1:]
        sq = g_row.square() + g_col.square()
        flat = sq == 0  # atan2 and sqrt have no finite derivative at 0: use safe values there
        magnitude = torch.where(flat, 0.0, sq.clamp_min(1e-30).sqrt())
        angle = torch.atan2(torch.where(flat, 0.0, g_row), torch.where(flat, 1.0, g_col))
        degrees = torch.remainder(torch.rad2deg(angle), self.span)
        width = self.span / self.orientations
        k = self.orientations
        if self.binning == "hard":  # bin i holds [i * width, (i + 1) * width)
            index = (degrees / width).floor().long().clamp(0, k - 1)
            votes = F.one_hot(index[:, 0], k).permute(0, 3, 1, 2).to(grad) * magnitude
        else:  # linear between the two nearest bin centres (i + 0.5) * width, cyclic
            t = degrees / width - 0.5
            low = t.floor()
            frac = t - low
            low = torch.remainder(low, k).long()[:, 0]
            high = torch.remainder(low + 1, k)
            votes = (
                F.one_hot(low, k).permute(0, 3, 1, 2).to(grad) * (1 - frac)
                + F.one_hot(high, k).permute(0, 3, 1, 2).to(grad) * frac
            )
            votes = votes * magnitude
        if self.pooling == "box":
            return F.avg_pool2d(votes, self.cell, self.cell)  # sum over the cell / cell area
        return bilinear_pool(votes, self.cell)


def bilinear_pool(votes: torch.Tensor, cell: int) -> torch.Tensor:
    """SIFT's spatial binning: every pixel votes into the cells whose centres are nearest, with
    weights (1 - |dy| / cell)(1 - |dx| / cell): a separable tent with 2 cell taps at the
    half-pixel offsets of an even-sized cell, evaluated at the cell centres, divided by the cell
    area (a uniform vote map gives 1 in every interior cell, as the box average does)."""
    d = torch.arange(2 * cell, dtype=votes.dtype, device=votes.device) - (cell - 0.5)
    tent = 1 - d.abs() / cell
    kernel = (tent[:, None] * tent[None, :]) / cell**2
    k = votes.shape[1]
    weight = kernel.expand(k, 1, *kernel.shape).contiguous()
    # the window of cell j starts cell / 2 pixels before the cell (j cell - cell / 2)
    padded = F.pad(votes, (cell // 2,) * 4)
    return F.conv2d(padded, weight, stride=cell, groups=k)


class BlockNormalization(nn.Module):
    """Overlapping blocks of ``block`` x ``block`` cells, each L2-Hys normalized:
    v / sqrt(|v|^2 + eps^2), min(., clip), and again v / sqrt(|v|^2 + eps^2)."""

    def __init__(self, block: int = 2, clip: float = 0.2, eps: float = 1e-5):
        super().__init__()
        self.block, self.clip, self.eps = block, clip, eps

    def forward(self, cells: torch.Tensor) -> torch.Tensor:
        n, k, h, w = cells.shape
        b = self.block
        # N x (k b b) x h' x w', channel order (cell row, cell col, orientation) like skimage
        blocks = cells.unfold(2, b, 1).unfold(3, b, 1)  # N x k x h' x w' x b x b
        blocks = blocks.permute(0, 4, 5, 1, 2, 3).reshape(n, b * b * k, h - b + 1, w - b + 1)
        eps2 = self.eps**2
        out = blocks / (blocks.square().sum(1, keepdim=True) + eps2).sqrt()
        out = out.clamp(max=self.clip)
        return out / (out.square().sum(1, keepdim=True) + eps2).sqrt()


class HOG(nn.Module):
    """Differentiable HOG of the luminance image (see the module docstring); with 8 signed
    orientations, bilinear votes and spatial pooling, and 4 x 4-cell blocks it is dense SIFT
    (``model=dsift``)."""

    num_classes = 0

    def __init__(
        self,
        orientations: int = 9,
        cell: int = 8,
        block: int = 2,
        binning: str = "hard",
        span: float = 180.0,
        pooling: str = "box",
        img_size: int = 224,
    ):
        super().__init__()
        self.gray = Gray()
        self.gradient = Gradient()
        self.cells = CellHistograms(orientations, cell, binning, span, pooling)
        self.blocks = BlockNormalization(block)
        self.cell, self.block, self.pooling = cell, block, pooling
        # what vizlab reads from timm models: the input size and normalization (the [0, 1]
        # image minus 0.5, so that 0 is mid-grey as in the paper's mean-subtracted units;
        # HOG itself is blind to the offset)
        self.pretrained_cfg = {
            "input_size": (3, img_size, img_size),
            "mean": (0.5, 0.5, 0.5),
            "std": (1.0, 1.0, 1.0),
            "interpolation": "bicubic",
            "crop_pct": 0.875,
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.cells(self.gradient(self.gray(x))))

    def receptive_field(self, layer: str) -> ReceptiveField:
        """Exact geometry: a cell sees its 8 x 8 pixels (box pooling; bilinear pooling: the
        16 x 16 of its tent) plus one pixel of the central differences on each side; a block
        ``block`` cells further."""
        if layer in ("gray", "gradient"):
            return ReceptiveField(1, 1 if layer == "gray" else 3)
        # any other name ("cells", "blocks" or the model output) is the cells or the blocks
        own = self.cell if self.pooling == "box" else 2 * self.cell
        extra = 0 if layer == "cells" else (self.block - 1) * self.cell
        return ReceptiveField(self.cell, own + extra + 2)


HANDCRAFTED = {
    "hog": {"binning": "hard"},
    "hogb": {"binning": "bilinear"},
    # dense SIFT (Lowe's descriptor on a grid, as VLFeat's dsift): 8 signed orientations,
    # bilinear in orientation and space, 4 x 4 cells of 8 px, L2 / clip 0.2 / L2, step 8 px
    "dsift": {"orientations": 8, "block": 4, "binning": "bilinear", "span": 360.0,
              "pooling": "bilinear"},
}  # fmt: skip
"""Hand-crafted representations by ``model.name``, with their default arguments."""


def build_handcrafted(name: str, **kwargs) -> nn.Module:
    """The representation ``name`` with ``model.kwargs`` over its defaults (a clear error for
    unknown or invalid arguments)."""
    try:
        return HOG(**{**HANDCRAFTED[name], **kwargs})
    except (TypeError, ValueError) as err:
        raise VizlabError(
            f"model={name} does not take model.kwargs={kwargs} ({err}). Valid arguments: "
            "orientations, cell, block, binning (hard | bilinear), span (180 | 360 degrees), "
            "pooling (box | bilinear), img_size."
        ) from None


__all__ = ["HANDCRAFTED", "HOG", "build_handcrafted"]
