"""Build a target (layer + units + objective) from the ``target`` config, validating the layer
name and the unit indices against the model."""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from vizlab.errors import VizlabError
from vizlab.models.wrapper import OUTPUT, VisionModel
from vizlab.schema import OptionError
from vizlab.targets.objectives import (
    ChannelObjective,
    DirectionObjective,
    LayerEnergy,
    LogitObjective,
    NeuronObjective,
    Objective,
    TokenDimObjective,
)
from vizlab.targets.schema import (
    CompositeTarget,
    DirectionTarget,
    PluginTarget,
    validate_target,
)
from vizlab.targets.schema import parse_indices as _parse_indices
from vizlab.targets.tokens import TokenLayout, describe, parse_tokens

KINDS = (
    "layer",
    "logit",
    "channel",
    "neuron",
    "direction",
    "token_dim",
    "vit_mlp",
    "composite",
)
TOKEN_KINDS = ("token_dim", "vit_mlp")


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
    labels: list[str] | None = None

    @property
    def num_units(self) -> int:
        return len(self.indices) if self.indices else 1

    def unit_labels(self, model: VisionModel) -> list[str]:
        if self.labels:
            return list(self.labels)
        if not self.indices:
            return [self.layer]
        if self.kind == "logit" and model.num_classes == 1000:
            from timm.data import ImageNetInfo

            info = ImageNetInfo()
            return [f"{i} {info.index_to_description(i)}" for i in self.indices]
        return [f"{self.layer}:{i}" for i in self.indices]


def parse_indices(index: Any, key: str = "target.index") -> list[int] | None:
    """An int, a non-empty list of ints, or a range string like '0:16' (end exclusive); a
    bad value is a :class:`VizlabError` naming ``key`` (see :mod:`vizlab.targets.schema`)."""
    try:
        return _parse_indices(index, key)
    except OptionError as err:
        raise VizlabError(f"Invalid value {key}={index!r}: {err.valid}.") from None


def _num_units(model: VisionModel, layer: str, shape: tuple[int, ...]) -> int:
    if layer == OUTPUT:
        return shape[-1]
    return shape[-1] if len(shape) == 3 else shape[1]


def _layer_of(cfg: Any, kind: str, model: VisionModel) -> str:
    if kind == "logit":
        return OUTPUT
    if kind == "vit_mlp":
        TokenLayout.from_model(model)  # a clear error on CNNs before any layer lookup
        if not cfg.layer:
            if cfg.block is None:
                raise VizlabError(
                    "target=vit_mlp needs target.block=<block number> (its MLP hidden units "
                    "are blocks.<block>.mlp.fc1) or an explicit target.layer."
                )
            return f"blocks.{int(cfg.block)}.mlp.fc1"
    layer = cfg.layer
    if not layer:
        raise VizlabError(f"target={kind} needs target.layer=<module path>.")
    return str(layer)


def _token_layout(
    kind: str, model: VisionModel, layer: str, shape: tuple[int, ...]
) -> TokenLayout | None:
    """The ViT token layout when ``layer`` outputs tokens (required for token kinds)."""
    tokens_shaped = layer != OUTPUT and len(shape) == 3
    if kind in TOKEN_KINDS:
        layout = TokenLayout.from_model(model)
        if not tokens_shaped:
            raise VizlabError(
                f"target={kind} needs a layer that outputs tokens (N x T x D), but '{layer}' "
                f"outputs {shape}. Use a block output (blocks.3) or an MLP layer "
                "(blocks.3.mlp.fc1)."
            )
        layout.prefix_of(shape[1], layer)
        return layout
    if model.is_vit and tokens_shaped:
        layout = TokenLayout.from_model(model)
        layout.prefix_of(shape[1], layer)
        return layout
    return None


def build_target(cfg: DictConfig | dict, model: VisionModel, prefix: str = "target") -> TargetSpec:
    """A :class:`TargetSpec` from the ``target`` config (kinds: see ``KINDS``, or a kind
    registered by a plugin under the ``vizlab.targets`` entry-point group). The config is
    checked by :func:`validate_target` first; what needs the model is checked here."""
    return _build(validate_target(cfg, prefix), model)


def _build(cfg: Any, model: VisionModel) -> TargetSpec:
    """The target of a checked config (a dataclass of :mod:`vizlab.targets.schema`)."""
    if isinstance(cfg, PluginTarget):
        return _plugin_target(cfg, model)
    kind = cfg.kind
    if kind == "composite":
        return _composite(cfg, model)
    layer = _layer_of(cfg, kind, model)
    if kind == "logit" and not model.num_classes:
        raise VizlabError(
            f"target=logit needs a classification head, but {model.name} has none "
            "(num_classes=0), so it has no logits. Use a layer target instead: "
            f"{'target=token_dim or vit_mlp, ' if model.is_vit else ''}target=channel, neuron, "
            "layer or direction; class logits need a classifier (e.g. a timm ViT with "
            "model.pretrained=true, which needs network access)."
        )
    model.resolve(layer)
    shape = model.output_shapes([layer])[layer] if layer != OUTPUT else (1, model.num_classes)
    layout = _token_layout(kind, model, layer, shape)
    if kind == "direction":
        return _direction(cfg, model, layer, shape, layout)
    indices = parse_indices(cfg.index)
    if kind != "layer" and indices is None:
        raise VizlabError(f"target={kind} needs target.index=<int or list of ints>.")
    if indices is not None:
        n = _num_units(model, layer, shape)
        bad = [i for i in indices if not 0 <= i < n]
        if bad:
            if kind == "logit":
                what = "classes"
            elif layout is not None:
                what = f"hidden dimensions at '{layer}' (shape {shape[1:]})"
            else:
                what = f"channels at '{layer}' (shape {shape[1:]})"
            raise VizlabError(
                f"target.index={bad[0] if len(bad) == 1 else bad} is out of range: the model has "
                f"{n} {what}, so valid indices are 0..{n - 1}."
            )
    labels = None
    if kind == "logit":
        objective: Objective = LogitObjective(indices)
    elif kind == "channel":
        objective = ChannelObjective(layer, indices)
    elif kind == "neuron":
        position = _position(cfg.position, layer, shape, layout)
        objective = NeuronObjective(layer, indices, position, layout)
    elif kind in TOKEN_KINDS:
        tokens = parse_tokens(cfg.tokens)
        layout.weights(tokens, shape[1], layer)  # validate the selection now
        objective = TokenDimObjective(layer, indices, layout, tokens)
        labels = [f"{layer}:{i} {describe(tokens)}" for i in indices]
    else:
        objective = LayerEnergy(layer)
    return TargetSpec(kind, layer, indices, objective, _mask(cfg, shape, layer), labels)


def _position(value, layer: str, shape: tuple[int, ...], layout: TokenLayout | None):
    """``target.position`` of a neuron: [y, x] on a CNN map, or a patch of the ViT token grid
    ([row, col], a row-major patch index, or center); null is the centre."""
    if value is None:
        return None
    if layout is not None:
        where = parse_tokens(value)
        if isinstance(where, str) and where != "center":
            raise VizlabError(
                f"target.position={value!r}: a ViT neuron sits at one patch; give [row, col], a "
                "patch index, or center."
            )
        return divmod(layout.patch_index(where), layout.grid[1])
    if len(shape) != 4:
        raise VizlabError(
            f"target.position={value!r} needs a spatial layer, but '{layer}' outputs {shape}."
        )
    h, w = shape[-2:]
    if isinstance(value, str) or len(value) != 2:
        raise VizlabError(
            f"target.position={value!r} is not [y, x]; '{layer}' has a {h}x{w} feature map "
            "(null: the centre)."
        )
    y, x = (int(v) for v in value)
    if not (0 <= y < h and 0 <= x < w):
        raise VizlabError(
            f"target.position=[{y}, {x}] is outside the {h}x{w} feature map of '{layer}'; valid "
            f"rows are 0..{h - 1} and columns 0..{w - 1} (null: the centre)."
        )
    return (y, x)


def _direction(
    cfg: DirectionTarget,
    model: VisionModel,
    layer: str,
    shape: tuple[int, ...],
    layout: TokenLayout | None,
) -> TargetSpec:
    """A direction in channel space: ``vector`` (list, file, or random) over all channels, or
    over ``channels`` only."""
    n = _num_units(model, layer, shape)
    channels = parse_indices(cfg.channels, "target.channels")
    if channels is not None and any(not 0 <= c < n for c in channels):
        raise VizlabError(f"target.channels={channels} must lie in 0..{n - 1} for '{layer}'.")
    size = len(channels) if channels is not None else n
    raw = cfg.vector
    if raw is None or raw == "random":
        g = torch.Generator().manual_seed(int(cfg.seed))
        weights = torch.randn(size, generator=g)
        source = f"random seed {int(cfg.seed)}"
    elif isinstance(raw, str):
        weights = _load_vector(raw)
        source = raw
    else:
        weights = torch.as_tensor([float(v) for v in raw])
        source = "vector"
    if weights.numel() != size:
        raise VizlabError(
            f"target.vector has {weights.numel()} entries, but it needs {size} "
            f"({'one per target.channels entry' if channels is not None else 'one per channel'} "
            f"of '{layer}', shape {shape[1:]})."
        )
    if float(weights.norm()) == 0.0:
        raise VizlabError("target.vector is all zeros; a direction needs a non-zero vector.")
    vector = torch.zeros(n)
    vector[channels if channels is not None else slice(None)] = weights.float().flatten()
    tokens = parse_tokens(cfg.tokens) if layout is not None else "all"
    if layout is not None:
        layout.weights(tokens, shape[1], layer)
    label = f"direction {layer} ({source})"
    objective = DirectionObjective(layer, vector, layout, tokens, label)
    return TargetSpec("direction", layer, None, objective, None, [label])


def _load_vector(path: str) -> torch.Tensor:
    file = Path(path).expanduser()
    if not file.is_file():
        raise VizlabError(
            f"target.vector='{path}' is neither 'random', a list of numbers, nor an existing "
            ".pt/.npy/.txt file holding one weight per channel."
        )
    if file.suffix == ".npy":
        import numpy as np

        return torch.from_numpy(np.load(file)).float()
    if file.suffix in (".pt", ".pth"):
        return torch.as_tensor(torch.load(file, map_location="cpu", weights_only=True)).float()
    import numpy as np

    return torch.from_numpy(np.loadtxt(file, ndmin=1)).float()


def _plugin_target(checked: PluginTarget, model: VisionModel) -> TargetSpec:
    """A plugin's target: its factory ``(options, model)`` returns an :class:`Objective`
    (its units from the options' ``index``, if any) or a full :class:`TargetSpec`."""
    from vizlab import registry

    made = registry.load_entry("vizlab.targets", checked.kind)(checked.options, model)
    if isinstance(made, TargetSpec):
        return made
    if not isinstance(made, Objective):
        raise VizlabError(
            f"The target plugin '{checked.kind}' returned {type(made).__name__}, not a "
            "vizlab Objective or TargetSpec."
        )
    opts = checked.options
    index = opts.get("index") if isinstance(opts, dict) else getattr(opts, "index", None)
    layers = [layer for layer in made.layers if layer != OUTPUT] or [OUTPUT]
    layer = model.deepest(layers) if len(layers) > 1 else layers[0]
    return TargetSpec(checked.kind, layer, parse_indices(index), made)


def _composite(cfg: CompositeTarget, model: VisionModel) -> TargetSpec:
    """A weighted sum of terms, each a target config plus ``weight`` (lucid's a + 0.5 * b).

    Terms with several units must agree on how many; single-unit terms apply to every unit.
    """
    parts: list[tuple[float, TargetSpec]] = [(w, _build(term, model)) for w, term in cfg.terms]
    counts = sorted({s.num_units for _, s in parts if s.num_units > 1})
    if len(counts) > 1:
        raise VizlabError(
            f"target.terms have different numbers of units ({counts}); terms must have one "
            "unit each or all the same number of units."
        )
    units = counts[0] if counts else 1
    objective = reduce(lambda a, b: a + b, [w * s.objective for w, s in parts])
    labels = []
    for u in range(units):
        pieces = []
        for w, s in parts:
            lab = s.unit_labels(model)
            pieces.append(("" if w == 1 else f"{w:g}*") + lab[u if len(lab) > 1 else 0])
        labels.append(" + ".join(pieces).replace("+ -", "- "))
    indices = next((s.indices for _, s in parts if s.num_units > 1), None)
    layer = model.deepest([s.layer for _, s in parts])
    return TargetSpec("composite", layer, indices, objective, None, labels)


def _mask(cfg: Any, shape: tuple[int, ...], layer: str) -> torch.Tensor | None:
    """Binary mask M of Eq. (3): a central window of the feature map and/or channels (keys
    of ``target=layer`` only)."""
    window = getattr(cfg, "mask_window", None)  # other kinds have no mask keys
    channels = getattr(cfg, "mask_channels", None)
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
        chans = parse_indices(channels, "target.mask_channels") or []
        c = shape[1]
        if any(not 0 <= i < c for i in chans):
            raise VizlabError(f"target.mask_channels must be in 0..{c - 1} for '{layer}'.")
        keep = torch.zeros(c)
        keep[chans] = 1
        mask = mask * keep.view(-1, *([1] * (len(shape) - 2)))
    return mask
