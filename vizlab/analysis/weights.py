"""Convolution kernels of a model: which layers have them, a layer's kernel, and the
normalizations that turn kernels into viewable tiles (lecture 21.1)."""

from __future__ import annotations

import torch
from torch import nn

from vizlab.errors import VizlabError, format_choices, nearest
from vizlab.models.wrapper import VisionModel
from vizlab.plotting import minmax

NORMALIZE = ("filter", "layer", "symmetric")


def conv_layers(model: VisionModel) -> list[str]:
    """Names of the modules holding a 4-D convolution kernel."""
    return [n for n in model.layer_names if _kernel(model.resolve(n)) is not None]


def _kernel(module: nn.Module) -> torch.Tensor | None:
    weight = getattr(module, "weight", None)
    if isinstance(module, nn.Conv2d) and isinstance(weight, torch.Tensor) and weight.dim() == 4:
        return weight
    return None


def conv_weight(model: VisionModel, layer: str) -> torch.Tensor:
    """The C_out x C_in/groups x K x K kernel of ``layer``, or an error naming conv layers."""
    convs = conv_layers(model)
    if layer in model.layer_names:
        weight = _kernel(model.resolve(layer))
        if weight is not None:
            return weight.detach().float().cpu()
        inside = [n for n in convs if n.startswith(layer + ".")]
        kind = type(model.resolve(layer)).__name__
        raise VizlabError(
            f"target.layer='{layer}' is a {kind}, not a convolution, so it has no filters to "
            f"show. Convolutions inside it: {format_choices(inside, 8) or 'none'}; the first "
            f"layer is {convs[0] if convs else 'not a convolution'}."
        )
    raise VizlabError(
        f"target.layer='{layer}' is not a layer of {model.name}. Convolution layers nearest to "
        f"it: {format_choices(nearest(layer, convs)) or format_choices(convs, 8)} "
        f"({len(convs)} in all; the first layer is {convs[0] if convs else 'none'})."
    )


def normalize(weight: torch.Tensor, mode: str) -> torch.Tensor:
    """Kernels to [0, 1]: per-filter min-max, one min-max for the layer, or per-filter
    symmetric (zero maps to mid-gray, so the sign is visible)."""
    if mode not in NORMALIZE:
        raise VizlabError(f"method.normalize='{mode}' is unknown; use {', '.join(NORMALIZE)}.")
    if mode == "layer":
        return minmax(weight, tuple(range(weight.ndim)))
    if mode == "symmetric":
        scale = weight.flatten(1).abs().amax(1).clamp_min(1e-12).view(-1, 1, 1, 1)
        return 0.5 + 0.5 * weight / scale
    return minmax(weight, (1, 2, 3))
