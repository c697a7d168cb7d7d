"""Pre-image engine components of the example plugin, one per extension point: a target
(``channel_contrast``), a parameterization (``lowres``), a penalty (``l1``) and a transform
(``color_shift``). Each is a factory registered in pyproject.toml; its ``Options`` dataclass
is the schema of its config node, checked by vizlab before the model loads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from vizlab.models.wrapper import VisionModel
from vizlab.params import ImageParam
from vizlab.params.build import ParamRequest
from vizlab.params.pixel import pixel_noise
from vizlab.schema import check_positive, require
from vizlab.targets.objectives import ChannelObjective, Objective
from vizlab.targets.schema import parse_indices


@dataclass
class ChannelContrastOptions:
    """``target.*`` keys of ``kind: channel_contrast``."""

    layer: str
    index: Any
    against: int
    weight: float = 1.0

    def __post_init__(self) -> None:
        parse_indices(self.index)
        check_positive("against", self.against, integer=True, allow_zero=True)
        check_positive("weight", self.weight, allow_zero=True)


def channel_contrast(options: ChannelContrastOptions, model: VisionModel) -> Objective:
    """Excite channel(s) ``index`` of ``layer`` while suppressing channel ``against``:
    mean(a) - weight * mean(b) (a contrast objective in the manner of lucid's ``a - b``)."""
    units = parse_indices(options.index) or [0]
    excite = ChannelObjective(options.layer, units)
    against = ChannelObjective(options.layer, [options.against] * len(units))
    objective = excite - options.weight * against
    objective.description = f"{options.layer}:{units} - {options.weight:g}*{options.against}"
    return objective


channel_contrast.Options = ChannelContrastOptions  # type: ignore[attr-defined]


class LowResParam(ImageParam):
    """Pixels at 1/``factor`` of the canvas resolution, upsampled bilinearly: a simple
    smoothness prior by construction (the low-resolution branch of lucid's laplacian
    pyramid parameterization)."""

    name = "lowres"

    @dataclass
    class Options:
        factor: int = 4
        init_scale: float = 0.1

        def __post_init__(self) -> None:
            check_positive("factor", self.factor, integer=True)
            require(self.factor <= 64, "factor", self.factor, "must be between 1 and 64")
            check_positive("init_scale", self.init_scale)

    def __init__(self, options: Options, request: ParamRequest):
        super().__init__(request.units)
        self.size = request.canvas_size
        low = tuple(max(1, -(-s // options.factor)) for s in self.size)
        if request.canvas is not None:
            start = F.interpolate(request.canvas, size=low, mode="area")
        else:
            std = options.init_scale * request.B / 3**0.5
            start = pixel_noise(request.batch, low, std, request.generators)
        self.low = start.to(request.device).requires_grad_(True)

    def parameters(self) -> list[torch.Tensor]:
        return [self.low]

    def paper(self) -> torch.Tensor:
        return F.interpolate(self.low, size=self.size, mode="bilinear", align_corners=False)

    @torch.no_grad()
    def assign_(self, x_paper: torch.Tensor) -> None:
        self.low.copy_(F.interpolate(x_paper, size=tuple(self.low.shape[-2:]), mode="area"))


class L1Penalty:
    """Sparsity of the image: 1/(H W B) sum |x| per image (paper units, 0 = mean colour),
    normalized like M&V's alpha-norm so that weight 1 is of the same order."""

    @dataclass
    class Options:
        B: float = 80.0

        def __post_init__(self) -> None:
            check_positive("B", self.B)

    def __init__(self, options: Options):
        self.B = float(options.B)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        return x.abs().sum(dim=(1, 2, 3)) / (h * w * self.B)


class ColorShift:
    """Add a random offset in [-amount, amount] (paper units) to each colour channel of each
    image every step: robustness to colour casts, like lucid's colour jitter."""

    @dataclass
    class Options:
        amount: float = 8.0

        def __post_init__(self) -> None:
            check_positive("amount", self.amount, allow_zero=True)

    def __init__(self, options: Options):
        self.amount = float(options.amount)

    def __call__(self, x: torch.Tensor, generators=None) -> torch.Tensor:
        streams = list(generators) if generators is not None else [None] * x.shape[0]
        shifts = torch.stack([torch.rand(3, generator=g) for g in streams])
        return x + ((2 * shifts - 1) * self.amount).to(x).view(-1, 3, 1, 1)
