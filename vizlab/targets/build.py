"""Build a target (layer + units + objective) from the ``target`` config, validating the layer
name and the unit indices against the model."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from omegaconf import DictConfig, ListConfig

from vizlab.errors import VizlabError
from vizlab.models.wrapper import OUTPUT, VisionModel
from vizlab.targets.objectives import (
    ChannelObjective,
    LayerEnergy,
    LogitObjective,
    NeuronObjective,
    Objective,
)

KINDS = ("layer", "logit", "channel", "neuron")


@dataclass
class TargetSpec:
    """The representation a method works on.

    ``layer`` is the representation Phi (a module path or ``output``); ``indices`` the units
    (one image each); ``objective`` scores images for activation maximization; ``mask`` is the
    binary mask M of Eq. (3) over Phi's shape (without batch), or None.
    """

    kind: str
    layer: str
    indices: list[int] | None
    objective: Objective
    mask: torch.Tensor | None = None

    @property
    def num_units(self) -> int:
        return len(self.indices) if self.indices else 1

    def unit_labels(self, model: VisionModel) -> list[str]:
        if not self.indices:
            return [self.layer]
        if self.kind == "logit" and model.num_classes == 1000:
            from timm.data import ImageNetInfo

            info = ImageNetInfo()
            return [f"{i} {info.index_to_description(i)}" for i in self.indices]
        return [f"{self.layer}:{i}" for i in self.indices]


def parse_indices(index) -> list[int] | None:
    """An int, a list of ints, or a range string like '0:16' (end exclusive)."""
    if index is None:
        return None
    if isinstance(index, (list, tuple, ListConfig)):
        return [int(i) for i in index]
    if isinstance(index, str) and ":" in index:
        start, stop = (int(p) for p in index.split(":", 1))
        return list(range(start, stop))
    try:
        return [int(index)]
    except (TypeError, ValueError) as err:
        raise VizlabError(
            f"target.index={index!r} is not an int, a list of ints or a range 'start:stop'."
        ) from err


def _num_units(model: VisionModel, layer: str, shape: tuple[int, ...]) -> int:
    if layer == OUTPUT:
        return shape[-1]
    return shape[-1] if len(shape) == 3 else shape[1]


def build_target(cfg: DictConfig, model: VisionModel) -> TargetSpec:
    kind = cfg.get("kind", "layer")
    if kind not in KINDS:
        raise VizlabError(f"target.kind='{kind}' is unknown. Known: {', '.join(KINDS)}.")
    layer = OUTPUT if kind == "logit" else cfg.get("layer")
    if not layer:
        raise VizlabError(f"target={kind} needs target.layer=<module path>.")
    if kind == "logit" and not model.num_classes:
        raise VizlabError(
            f"target=logit needs a classification head, but {model.name} has none "
            "(num_classes=0). Use target=channel or another layer target."
        )
    model.resolve(layer)
    shape = model.output_shapes([layer])[layer] if layer != OUTPUT else (1, model.num_classes)
    indices = parse_indices(cfg.get("index"))
    if kind != "layer" and indices is None:
        raise VizlabError(f"target={kind} needs target.index=<int or list of ints>.")
    if indices is not None:
        n = _num_units(model, layer, shape)
        bad = [i for i in indices if not 0 <= i < n]
        if bad:
            what = "classes" if kind == "logit" else f"channels at '{layer}' (shape {shape[1:]})"
            raise VizlabError(
                f"target.index={bad[0] if len(bad) == 1 else bad} is out of range: the model has "
                f"{n} {what}, so valid indices are 0..{n - 1}."
            )
    if kind == "logit":
        objective: Objective = LogitObjective(indices)
    elif kind == "channel":
        objective = ChannelObjective(layer, indices)
    elif kind == "neuron":
        objective = NeuronObjective(layer, indices, cfg.get("position"))
    else:
        objective = LayerEnergy(layer)
    return TargetSpec(kind, layer, indices, objective, _mask(cfg, shape, layer))


def _mask(cfg: DictConfig, shape: tuple[int, ...], layer: str) -> torch.Tensor | None:
    """Binary mask M of Eq. (3): a central window of the feature map and/or channels."""
    window, channels = cfg.get("mask_window"), cfg.get("mask_channels")
    if window is None and channels is None:
        return None
    mask = torch.ones(shape[1:])
    if window is not None:
        if len(shape) != 4:
            raise VizlabError(f"target.mask_window needs a spatial layer; '{layer}' is {shape}.")
        h, w = shape[-2:]
        k = int(window)
        if not 0 < k <= min(h, w):
            raise VizlabError(f"target.mask_window={k} must be in 1..{min(h, w)} for '{layer}'.")
        spatial = torch.zeros(h, w)
        y0, x0 = (h - k) // 2, (w - k) // 2
        spatial[y0 : y0 + k, x0 : x0 + k] = 1
        mask = mask * spatial
    if channels is not None:
        chans = parse_indices(channels) or []
        c = shape[1]
        if any(not 0 <= i < c for i in chans):
            raise VizlabError(f"target.mask_channels must be in 0..{c - 1} for '{layer}'.")
        keep = torch.zeros(c)
        keep[chans] = 1
        mask = mask * keep.view(-1, *([1] * (len(shape) - 2)))
    return mask
