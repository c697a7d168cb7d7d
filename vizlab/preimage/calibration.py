"""Balancing the data term against the prior when the paper's constant does not transfer.

M&V normalize activation maximization by Z = M rho^2 (Eq. 9) and use C = 1, but note that
"it was not possible to find an architecture independent normalization constant Z"
(Sect. 6.2): their networks see raw 0..255 pixels, while timm models see
(x/255 - mean)/std. On EfficientNet-Lite0 the logit-301 term's mean per-pixel gradient at a
natural photo is ~3e4 times smaller than the prior's, so with C = 1 the prior wins and the
result is a flat grey image (measured: target probability 0.001 after 300 steps).

``C=auto`` therefore picks, for each unit, the C at which the data term's mean absolute
per-pixel gradient equals ``C_balance`` times the prior's, both measured on natural photos
(the built-in photos at the working size) over the pixels the unit reaches (its receptive
field, for one component as in M&V Sect. 6.2). Since Algorithm 1 adapts the step per pixel, this
ratio of gradients is what decides which term shapes the image. A number keeps the paper's
fixed constant.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from vizlab.data.reference_set import photo_set
from vizlab.errors import VizlabError
from vizlab.models.wrapper import VisionModel
from vizlab.regularizers.stack import RegularizerStack
from vizlab.targets.objectives import Objective


def balanced_C(
    regularizers: RegularizerStack,
    data_loss: Callable[[torch.Tensor], torch.Tensor],
    x_paper: torch.Tensor,
    balance: float = 1.0,
) -> torch.Tensor:
    """C per image of ``x_paper`` (paper units, N x 3 x H x W, on the model's device) at
    which the mean absolute per-pixel gradient of ``C * data_loss`` equals ``balance`` times
    the prior's, both averaged over the pixels the data term reaches (a neuron's receptive
    field; the whole image for channels, logits and whole layers)."""
    x = x_paper.detach().clone().requires_grad_(True)
    (g_data,) = torch.autograd.grad(data_loss(x).sum(), x)
    prior, _ = regularizers(x)
    if not prior.requires_grad:  # no penalty terms at all: nothing to balance against
        return torch.ones(x.shape[0], device=x.device)
    (g_prior,) = torch.autograd.grad(prior.sum(), x)
    data = g_data.abs().flatten(1)
    # Compare the two where the data term acts: a neuron reaches only its receptive field, and
    # a mean over the whole image would dilute its gradient by the field's share of the image
    # (1/35 for a 27 px field in 160 px), so C would come out that much too large and the
    # data term would drown the prior inside the field. Channels and logits reach every pixel.
    reached = data > 0
    reached |= ~reached.any(1, keepdim=True)  # a dead unit: fall back to the whole image
    count = reached.sum(1)
    reg = (g_prior.abs().flatten(1) * reached).sum(1) / count
    return (balance * reg / (data.sum(1) / count).clamp_min(1e-30)).detach()


def unit_C(
    model: VisionModel,
    regularizers: RegularizerStack,
    objective: Objective,
    Z: torch.Tensor,
    balance: float = 1.0,
    photos: int = 4,
    chunk: int = 16,
) -> torch.Tensor:
    """C per unit for activation maximization, balanced on the first built-in photos.

    Every unit sees every photo (a batch of units x photos). The network runs on ``chunk``
    images at a time and the objective on the joined features: one pass over 16 units x 4
    photos at 224 px took 4.5 s on the 2-core CPU here (memory-bound), passes of 16 a third
    of that; the gradients are the same."""
    images = photo_set(model.spec, crops=False)[0][:photos].to(model.device)
    units = Z.numel()
    x = model.units.unit_to_paper(images).repeat(units, 1, 1, 1)
    z = Z.repeat_interleave(images.shape[0])
    layers = list(objective.layers)

    def loss(xp: torch.Tensor) -> torch.Tensor:
        parts = [
            model.features(model.units.paper_to_model(xp[i : i + chunk]), layers)
            for i in range(0, xp.shape[0], chunk)
        ]
        feats = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
        return -objective(feats) / z

    return balanced_C(regularizers, loss, x, balance).view(units, -1).mean(1)


def resolve_C(
    C: float | str, balance: float, calibrate: Callable[[float], torch.Tensor]
) -> torch.Tensor | float:
    """``C`` as given (a finite number > 0), or the balanced C when it is ``auto``."""
    if isinstance(C, str):
        if C != "auto":
            raise VizlabError(f"method.C={C!r} must be a number or 'auto'.")
        return calibrate(float(balance))
    return float(C)


def check_C(key: str, value: object) -> None:
    """For an ``Options`` schema: ``C`` is ``auto`` or a finite number > 0."""
    from vizlab.schema import OptionError, check_positive

    if value == "auto":
        return
    try:
        check_positive(key, value)
    except OptionError:
        raise OptionError(key, value, "must be 'auto' or a finite number > 0") from None
