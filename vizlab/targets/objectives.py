"""Objectives as composable values (lucid's ``a + 0.5 * b``): each maps the captured
activations of one batch to one score per image (higher is better).

A unit objective holds one index per image of the batch, so many units render in one batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from vizlab.models.wrapper import OUTPUT

Features = dict[str, torch.Tensor]


class Objective:
    """A differentiable score per image, computed from activations of ``layers``."""

    def __init__(
        self,
        layers: Sequence[str],
        fn: Callable[[Features], torch.Tensor],
        description: str = "objective",
    ):
        self.layers = tuple(dict.fromkeys(layers))
        self._fn = fn
        self.description = description

    def __call__(self, features: Features) -> torch.Tensor:
        return self._fn(features)

    def __add__(self, other: Objective | float) -> Objective:
        if not isinstance(other, Objective):
            return Objective(self.layers, lambda f: self(f) + other, f"{self} + {other}")
        return Objective(
            self.layers + other.layers, lambda f: self(f) + other(f), f"{self} + {other}"
        )

    __radd__ = __add__

    def __mul__(self, k: float) -> Objective:
        return Objective(self.layers, lambda f: k * self(f), f"{k} * {self}")

    __rmul__ = __mul__

    def __neg__(self) -> Objective:
        return -1.0 * self

    def __sub__(self, other: Objective) -> Objective:
        return self + (-other)

    def __repr__(self) -> str:
        return self.description


def _per_image(index: torch.Tensor, n: int) -> torch.Tensor:
    """Broadcast one index per unit to a batch laid out as units x inits."""
    if index.numel() == n:
        return index
    if n % index.numel():
        raise ValueError(f"batch of {n} does not divide into {index.numel()} units")
    return index.repeat_interleave(n // index.numel())


class LogitObjective(Objective):
    """Pre-softmax class score (the model output)."""

    def __init__(self, index: Sequence[int]):
        self.index = torch.as_tensor(list(index))
        super().__init__([OUTPUT], self._score, f"logit{list(index)}")

    def _score(self, f: Features) -> torch.Tensor:
        out = f[OUTPUT]
        idx = _per_image(self.index, out.shape[0]).to(out.device)
        return out[torch.arange(out.shape[0], device=out.device), idx]


def _channel_first(act: torch.Tensor) -> torch.Tensor:
    """Activations as N x C x ... (ViT token tensors N x T x D become N x D x T)."""
    return act.transpose(1, 2) if act.dim() == 3 else act


class ChannelObjective(Objective):
    """Mean activation of a channel over all positions (CNN) or tokens (ViT)."""

    def __init__(self, layer: str, index: Sequence[int]):
        self.layer, self.index = layer, torch.as_tensor(list(index))
        super().__init__([layer], self._score, f"channel {layer}{list(index)}")

    def _score(self, f: Features) -> torch.Tensor:
        act = _channel_first(f[self.layer])
        idx = _per_image(self.index, act.shape[0]).to(act.device)
        picked = act[torch.arange(act.shape[0], device=act.device), idx]
        return picked.flatten(1).mean(1) if picked.dim() > 1 else picked


class NeuronObjective(Objective):
    """One unit at one spatial position (default: the centre of the feature map)."""

    def __init__(self, layer: str, index: Sequence[int], position: Sequence[int] | None = None):
        self.layer, self.index = layer, torch.as_tensor(list(index))
        self.position = tuple(position) if position is not None else None
        super().__init__([layer], self._score, f"neuron {layer}{list(index)}")

    def _score(self, f: Features) -> torch.Tensor:
        act = f[self.layer]
        idx = _per_image(self.index, act.shape[0]).to(act.device)
        rows = torch.arange(act.shape[0], device=act.device)
        if act.dim() == 2:
            return act[rows, idx]
        h, w = act.shape[-2:]
        y, x = self.position if self.position is not None else ((h - 1) // 2, (w - 1) // 2)
        return act[rows, idx, y, x]


class LayerEnergy(Objective):
    """||phi(x)||^2 of a whole layer, averaged per element (DeepDream's objective)."""

    def __init__(self, layer: str):
        self.layer = layer
        super().__init__([layer], lambda f: f[layer].pow(2).flatten(1).mean(1), f"layer {layer}")
