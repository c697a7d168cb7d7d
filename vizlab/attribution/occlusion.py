"""Occlusion sensitivity (Zeiler & Fergus 2014, "Visualizing and understanding convolutional
networks", Sect. 4.2 and Fig. 7): slide a patch of baseline values over the image and record
the drop of the class score, F(x) - F(x with the patch occluded).

Window placement and aggregation follow captum's ``Occlusion``: windows start at multiples of
the stride from the top-left corner, the last window of a row/column may be cut off by the
border, and every pixel gets the mean drop over the windows that covered it. The occluded
images are evaluated ``batch_size`` at a time, one input image after the other: unlike
captum's ``perturbations_per_eval`` (windows per pass *per input*, so 10 inputs at 32 make
320-image passes), ``batch_size`` bounds the whole forward pass, so its memory and its timing
do not depend on how many images are explained.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from vizlab.attribution.base import Attribution, Target, chunks, repeat_target, target_of


def window_starts(size: int, patch: int, stride: int) -> list[int]:
    """Start offsets along one side: 0, s, 2s, ... until the side is covered."""
    if not 0 < patch <= size:
        raise ValueError(f"patch {patch} must be in 1..{size}")
    if not 0 < stride <= patch and patch < size:
        raise ValueError(f"stride {stride} must be in 1..patch ({patch}) to cover every pixel")
    count = math.ceil((size - patch) / stride) + 1 if patch < size else 1
    return [i * stride for i in range(count)]


def occlusion_masks(
    height: int, width: int, patch: tuple[int, int], stride: tuple[int, int]
) -> Tensor:
    """One binary mask (1 = occluded) per window: W x 1 x H x W, row-major window order."""
    ys = window_starts(height, patch[0], stride[0])
    xs = window_starts(width, patch[1], stride[1])
    masks = torch.zeros(len(ys) * len(xs), 1, height, width)
    for i, (y, x) in enumerate((y, x) for y in ys for x in xs):
        masks[i, :, y : y + patch[0], x : x + patch[1]] = 1
    return masks


class Occlusion(Attribution):
    """Mean score drop of the windows covering each pixel (same shape as the input)."""

    def attribute(
        self,
        inputs: Tensor,
        target: Target = None,
        patch: int | tuple[int, int] = 15,
        stride: int | tuple[int, int] = 8,
        baselines: Tensor | float | None = None,
        batch_size: int = 32,
    ) -> Tensor:
        """``baselines``: the values that replace an occluded patch (a scalar, or a tensor
        broadcastable to ``inputs``; default 0). ``batch_size``: occluded images per forward
        pass."""
        n, _, h, w = inputs.shape
        patch = (patch, patch) if isinstance(patch, int) else tuple(patch)
        stride = (stride, stride) if isinstance(stride, int) else tuple(stride)
        masks = occlusion_masks(h, w, patch, stride).to(inputs)
        base = torch.zeros_like(inputs) if baselines is None else torch.as_tensor(baselines)
        base = base.to(inputs).expand_as(inputs)
        with torch.no_grad():
            reference = self.scores(inputs, target)  # N
            total = torch.zeros(n, 1, h, w, dtype=inputs.dtype, device=inputs.device)
            for i in range(n):
                x, b, t = inputs[i : i + 1], base[i : i + 1], target_of(target, i)
                for part in chunks(masks.shape[0], max(1, int(batch_size))):
                    m = masks[part]  # k x 1 x H x W
                    occluded = x * (1 - m) + b * m
                    scores = self.scores(occluded, repeat_target(t, m.shape[0]))
                    total[i] += ((reference[i] - scores).view(-1, 1, 1, 1) * m).sum(0)
            coverage = masks.sum(0, keepdim=True)
        return (total / coverage).expand_as(inputs).contiguous()
