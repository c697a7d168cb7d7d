"""Build an image parameterization from the ``param`` config group (or its typed options).

The canvas is ``size`` plus ``margin`` pixels (the paper's jitter margin, T - 1); its central
``size`` crop is the picture. A given ``init`` (picture size, paper units) is reflect-padded to
the canvas and encoded; without one each parameterization draws its own random start from the
per-image ``generators``: pixel noise of typical RGB norm ``init_scale * B`` (drawn at picture
size and reflect-padded, as Mahendran & Vedaldi's code does), a small random Fourier spectrum,
or a random MaCo phase. Parameterizations registered by plugins under the ``vizlab.params``
entry-point group are built by their factory from a :class:`ParamRequest`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from vizlab.errors import VizlabError
from vizlab.models.wrapper import InputSpec, PixelUnits
from vizlab.params.base import ImageParam, reflect_pad
from vizlab.params.color import correlation_matrix
from vizlab.params.fourier import FourierParam
from vizlab.params.maco import MacoParam, natural_magnitude
from vizlab.params.pixel import PixelParam, pixel_noise
from vizlab.params.schema import (
    FourierOptions,
    MacoOptions,
    PixelOptions,
    PluginParam,
    validate_param,
)

PARAMS = ("pixel", "fourier", "maco")


@dataclass
class ParamRequest:
    """What a parameterization is asked for: ``batch`` images of ``size`` (H, W) on a canvas
    ``margin`` pixels larger, in the model's pixel ``units``, on ``device``; ``init`` (N x 3 x
    H x W, paper units, already padded to the canvas) or None for a random start from the
    per-image ``generators``. ``B`` / ``B_plus`` are the prior's pixel-norm constants (paper
    units) and ``init_scale`` the typical norm of a random pixel start, in units of B."""

    units: PixelUnits
    spec: InputSpec
    batch: int
    size: tuple[int, int]
    margin: int = 0
    canvas: torch.Tensor | None = None
    generators: list[torch.Generator] | None = None
    device: str | torch.device = "cpu"
    B: float = 80.0
    B_plus: float | None = None
    init_scale: float = 0.1

    @property
    def canvas_size(self) -> tuple[int, int]:
        return (self.size[0] + self.margin, self.size[1] + self.margin)


def build_param(
    cfg: Any,
    units: PixelUnits,
    spec: InputSpec,
    batch: int,
    size: tuple[int, int],
    *,
    init: torch.Tensor | None = None,
    generators: list[torch.Generator] | None = None,
    margin: int = 0,
    device: str | torch.device = "cpu",
    B: float = 80.0,
    B_plus: float | None = None,
    init_scale: float = 0.1,
) -> ImageParam:
    """The parameterization ``cfg.name`` (a ``param`` node, a name, or typed options) for
    ``batch`` images of ``size`` (H, W) on a canvas ``margin`` pixels larger, started from
    ``init`` (N x 3 x H x W, paper units) or at random.

    ``B_plus`` bounds the pixels' RGB norm (Eq. 6; None: 2 B); the parameterization's own
    ``init_scale`` option, when set, wins over the argument. The returned object's
    ``optimizer`` is the optimizer config the engine uses for it (None: the ``optimizer``
    group) and ``penalties`` whether it adds the regularizers' penalties to the energy."""
    options = validate_param(cfg)
    name = options.name
    h, w = int(size[0]), int(size[1])
    canvas = None
    if init is not None:
        if tuple(init.shape) != (batch, 3, h, w):
            raise VizlabError(
                f"The start image has shape {tuple(init.shape)}, but param={name} was asked for "
                f"{batch} images of {h}x{w} (expected {(batch, 3, h, w)})."
            )
        canvas = reflect_pad(init.to(device), margin)
    request = ParamRequest(
        units,
        spec,
        batch,
        (h, w),
        margin=margin,
        canvas=canvas,
        generators=generators,
        device=device,
        B=float(B),
        B_plus=float(B_plus) if B_plus is not None else 2.0 * float(B),
        init_scale=float(init_scale),
    )
    param = _build(options, request)
    param.optimizer = options.optimizer
    param.penalties = bool(options.penalties)
    return param


def _build(options: Any, req: ParamRequest) -> ImageParam:
    if isinstance(options, PixelOptions):
        canvas = req.canvas
        if canvas is None:
            scale = options.init_scale if options.init_scale is not None else req.init_scale
            std = float(scale) * req.B / 3**0.5
            noise = pixel_noise(req.batch, req.size, std, req.generators)
            canvas = reflect_pad(noise.to(req.device), req.margin)
        return PixelParam(req.units, canvas, bound=req.B_plus)
    if isinstance(options, FourierOptions):
        param: ImageParam = FourierParam(
            req.units,
            req.batch,
            req.canvas_size,
            decay_power=options.decay_power,
            sd=options.sd,
            decorrelate=options.decorrelate,
            generators=req.generators,
            device=req.device,
        )
        if req.canvas is not None:
            param.assign_(req.canvas)
        return param
    if isinstance(options, MacoOptions):
        matrix = correlation_matrix(bool(options.decorrelate))
        magnitude = natural_magnitude(req.spec, req.canvas_size, matrix)
        maco = MacoParam(
            req.units,
            magnitude,
            req.batch,
            req.canvas_size,
            matrix,
            generators=req.generators,
            device=req.device,
        )
        if req.canvas is not None:
            maco.assign_(req.canvas, magnitude=True)
        return maco
    assert isinstance(options, PluginParam)
    from vizlab import registry

    factory = registry.load_entry("vizlab.params", options.name)
    param = factory(options.options, req)
    if not isinstance(param, ImageParam):
        raise VizlabError(
            f"The parameterization plugin '{options.name}' returned {type(param).__name__}, "
            "not a vizlab.params.ImageParam."
        )
    return param
