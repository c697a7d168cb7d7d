"""Build an image parameterization from the ``param`` config group.

The canvas is ``size`` plus ``margin`` pixels (the paper's jitter margin, T - 1); its central
``size`` crop is the picture. A given ``init`` (picture size, paper units) is reflect-padded to
the canvas and encoded; without one each parameterization draws its own random start from the
per-image ``generators``: pixel noise of typical RGB norm ``init_scale * B`` (drawn at picture
size and reflect-padded, as Mahendran & Vedaldi's code does), a small random Fourier spectrum,
or a random MaCo phase.
"""

from __future__ import annotations

from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from vizlab.errors import VizlabError, format_choices
from vizlab.params.base import ImageParam, reflect_pad
from vizlab.params.color import correlation_matrix
from vizlab.params.fourier import FourierParam
from vizlab.params.maco import MacoParam, natural_magnitude
from vizlab.params.pixel import PixelParam, pixel_noise

PARAMS = ("pixel", "fourier", "maco")


def _options(cfg: DictConfig | dict | None) -> dict[str, Any]:
    if cfg is None:
        return {"name": "pixel"}
    options = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg
    assert isinstance(options, dict)
    return dict(options)


def build_param(
    cfg: DictConfig | dict | None,
    ctx,
    batch: int,
    size: tuple[int, int],
    init: torch.Tensor | None = None,
    generators: list[torch.Generator] | None = None,
    margin: int = 0,
) -> ImageParam:
    """The parameterization ``cfg.name`` for ``batch`` images of ``size`` (H, W) on a canvas
    ``margin`` pixels larger, started from ``init`` (N x 3 x H x W, paper units) or at random.

    ``ctx`` (a RunContext) supplies the model's pixel units and input spec, the device, and
    for pixels the prior constants (B, B+) and ``method.init_scale``. ``cfg.optimizer`` (if
    set) is the optimizer config the pre-image engine uses for this parameterization;
    ``cfg.penalties`` (default: true for pixels only) whether it adds the regularizers
    group's penalties to the energy.
    """
    from vizlab.methods.preimage import prior_constants  # the engine imports this module

    options = _options(cfg)
    name = options.pop("name", "pixel")
    optimizer = options.pop("optimizer", None)
    penalties = bool(options.pop("penalties", name == "pixel"))
    units, device = ctx.model.units, ctx.device
    h, w = int(size[0]), int(size[1])
    canvas_size = (h + margin, w + margin)
    canvas = None
    if init is not None:
        if tuple(init.shape) != (batch, 3, h, w):
            raise VizlabError(
                f"The start image has shape {tuple(init.shape)}, but param={name} was asked for "
                f"{batch} images of {h}x{w} (expected {(batch, 3, h, w)})."
            )
        canvas = reflect_pad(init.to(device), margin)
    try:
        if name == "pixel":
            B, _, b_plus = prior_constants(ctx)
            init_scale = options.pop("init_scale", None)
            if options:
                raise TypeError(f"unexpected options {sorted(options)}")
            if canvas is None:
                if init_scale is None:
                    init_scale = ctx.method_cfg.get("init_scale", 0.1)
                std = float(init_scale) * B / 3**0.5
                noise = pixel_noise(batch, (h, w), std, generators)
                canvas = reflect_pad(noise.to(device), margin)
            pixels = PixelParam(units, canvas, bound=b_plus, optimizer=optimizer)
            pixels.penalties = penalties
            return pixels
        if name == "fourier":
            param: ImageParam = FourierParam(
                units,
                batch,
                canvas_size,
                generators=generators,
                device=device,
                optimizer=optimizer,
                **options,
            )
            param.penalties = penalties
            if canvas is not None:
                param.assign_(canvas)
            return param
        if name == "maco":
            matrix = correlation_matrix(bool(options.pop("decorrelate", True)))
            if options:
                raise TypeError(f"unexpected options {sorted(options)}")
            magnitude = natural_magnitude(ctx.model.spec, canvas_size, matrix)
            maco = MacoParam(
                units,
                magnitude,
                batch,
                canvas_size,
                matrix,
                generators=generators,
                device=device,
                optimizer=optimizer,
            )
            maco.penalties = penalties
            if canvas is not None:
                maco.assign_(canvas, magnitude=True)
            return maco
    except TypeError as err:
        raise VizlabError(
            f"Bad options for param={name}: {err}. See conf/param/{name}.yaml for the valid keys."
        ) from err
    raise VizlabError(
        f"param.name='{name}' is not a known image parameterization. Known: "
        f"{format_choices(list(PARAMS))} (conf/param/<name>.yaml)."
    )
