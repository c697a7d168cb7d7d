"""Objectives as composable values (lucid's ``a + 0.5 * b``): each maps the captured
activations of one batch to one score per image (higher is better).

A unit objective holds one index per image of the batch, so many units render in one batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from vizlab.devices import OnDevice
from vizlab.models.wrapper import OUTPUT
from vizlab.style.gram import gram_matrix
from vizlab.targets.tokens import (
    TokenLayout,
    TokenSelection,
    as_token_tensor,
    describe,
    select_tokens,
)

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


class UnitIndex:
    """One unit index per image of a batch laid out as units x inits, with the batch's row
    numbers, made on the activations' device once per batch size and device: indexing a GPU
    tensor with a host index would copy it to the device (and synchronize) every step."""

    def __init__(self, index: Sequence[int]):
        self.units = [int(i) for i in index]
        self._made: dict[tuple[int, torch.device], tuple[torch.Tensor, torch.Tensor]] = {}

    def __call__(self, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(rows, unit index), both of length N = ``act.shape[0]``, on ``act``'s device."""
        n, device = act.shape[0], act.device
        if (n, device) not in self._made:
            if n % len(self.units):
                raise ValueError(f"batch of {n} does not divide into {len(self.units)} units")
            per_image = [i for i in self.units for _ in range(n // len(self.units))]
            with torch.inference_mode(False):  # autograd may save them (index backward)
                rows = torch.arange(n, device=device)
                self._made[n, device] = rows, torch.tensor(per_image, device=device)
        return self._made[n, device]


class LogitObjective(Objective):
    """Pre-softmax class score (the model output)."""

    def __init__(self, index: Sequence[int]):
        self.index = UnitIndex(index)
        super().__init__([OUTPUT], self._score, f"logit{list(index)}")

    def _score(self, f: Features) -> torch.Tensor:
        out = f[OUTPUT]
        return out[self.index(out)]


def _channel_first(act: torch.Tensor) -> torch.Tensor:
    """Activations as N x C x ... (ViT token tensors N x T x D become N x D x T)."""
    return act.transpose(1, 2) if act.dim() == 3 else act


class ChannelObjective(Objective):
    """Mean activation of a channel over all positions (CNN) or tokens (ViT)."""

    def __init__(self, layer: str, index: Sequence[int]):
        self.layer, self.index = layer, UnitIndex(index)
        super().__init__([layer], self._score, f"channel {layer}{list(index)}")

    def _score(self, f: Features) -> torch.Tensor:
        act = _channel_first(f[self.layer])
        picked = act[self.index(act)]
        return picked.flatten(1).mean(1) if picked.dim() > 1 else picked


class NeuronObjective(Objective):
    """One unit at one spatial position (default: the centre of the feature map); on ViT
    tokens the position is a patch of the token grid (``layout`` from timm)."""

    def __init__(
        self,
        layer: str,
        index: Sequence[int],
        position: Sequence[int] | None = None,
        layout: TokenLayout | None = None,
    ):
        self.layer, self.index = layer, UnitIndex(index)
        self.position = tuple(position) if position is not None else None
        self.layout = layout
        super().__init__([layer], self._score, f"neuron {layer}{list(index)}")

    def _score(self, f: Features) -> torch.Tensor:
        act = f[self.layer]
        rows, idx = self.index(act)
        if act.dim() == 2:
            return act[rows, idx]
        if self.layout is not None:  # ViT tokens N x T x D: one patch token
            where: TokenSelection = self.position or "center"  # type: ignore[assignment]
            return select_tokens(as_token_tensor(act), self.layout, where, self.layer)[rows, idx]
        h, w = act.shape[-2:]
        y, x = self.position if self.position is not None else ((h - 1) // 2, (w - 1) // 2)
        return act[rows, idx, y, x]


class TokenDimObjective(Objective):
    """ViT hidden dimension ``idx`` of a token tensor, averaged over the selected tokens: the AM
    paper's hidden_states[layer][:, :, idx] aggregated over ``all`` tokens (Sect. 3.4), or over
    ``cls`` / ``patch_mean`` / one patch."""

    def __init__(
        self,
        layer: str,
        index: Sequence[int],
        layout: TokenLayout,
        tokens: TokenSelection = "all",
    ):
        self.layer, self.index = layer, UnitIndex(index)
        self.layout, self.tokens = layout, tokens
        super().__init__(
            [layer], self._score, f"token_dim {layer}{list(index)} ({describe(tokens)})"
        )

    def _score(self, f: Features) -> torch.Tensor:
        act = as_token_tensor(f[self.layer], self.layer)
        rows, idx = self.index(act)
        per_token = act[rows, :, idx]  # N x T
        w = self.layout.weights(self.tokens, act.shape[1], self.layer, like=per_token)
        return per_token @ w


class DirectionObjective(Objective):
    """Projection of the activations on a unit vector v in channel space, averaged over
    positions (or the selected ViT tokens): <phi(x)_u, v> / ||v|| (lucid's ``direction``)."""

    def __init__(
        self,
        layer: str,
        vector: torch.Tensor,
        layout: TokenLayout | None = None,
        tokens: TokenSelection = "all",
        description: str | None = None,
    ):
        self.layer = layer
        self.vector = vector.flatten().float() / vector.float().norm().clamp_min(1e-12)
        self.layout, self.tokens = layout, tokens
        self._vector = OnDevice(self.vector)  # moved to the activations' device once
        super().__init__([layer], self._score, description or f"direction {layer}")

    def _score(self, f: Features) -> torch.Tensor:
        act = f[self.layer]
        v = self._vector(act)
        if self.layout is not None and act.dim() in (3, 4):
            tokens = as_token_tensor(act, self.layer)
            return select_tokens(tokens, self.layout, self.tokens, self.layer) @ v
        if act.dim() == 3:  # tokens without a layout: every token
            return (act @ v).mean(1)
        projected = torch.einsum("nc...,c->n...", act, v)
        return projected.flatten(1).mean(1) if projected.dim() > 1 else projected


def gram_similarity(act: torch.Tensor, group: int) -> torch.Tensor:
    """Per image, the mean cosine similarity of its Gram matrix with those of the other images
    in its group (consecutive runs of ``group`` images: one unit's initializations)."""
    n = act.shape[0]
    if group < 2:
        return act.new_zeros(n)
    if n % group:
        raise ValueError(f"batch of {n} does not divide into groups of {group}")
    grams = torch.nn.functional.normalize(gram_matrix(act).flatten(1), dim=1, eps=1e-10)
    grams = grams.view(n // group, group, -1)
    sim = grams @ grams.transpose(1, 2)  # groups x g x g
    off_diagonal = sim.sum(-1) - sim.diagonal(dim1=1, dim2=2)
    return (off_diagonal / (group - 1)).reshape(n)


class Diversity(Objective):
    """Olah et al. 2017 "diversity": minus the pairwise cosine similarity of the Gram matrices
    of ``layer`` among the images of one unit, so a batch shows several facets of the unit."""

    def __init__(self, layer: str, group: int):
        self.layer, self.group = layer, int(group)
        super().__init__(
            [layer], lambda f: -gram_similarity(f[layer], self.group), f"diversity {layer}"
        )


class LayerEnergy(Objective):
    """||phi(x)||^2 of a whole layer, averaged per element (DeepDream's objective)."""

    def __init__(self, layer: str):
        self.layer = layer
        super().__init__([layer], lambda f: f[layer].pow(2).flatten(1).mean(1), f"layer {layer}")
