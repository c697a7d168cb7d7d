"""Typed ``target`` configs: one dataclass per ``target.kind``, checked before the model loads.

Checks that need the model (does the layer exist, is the index below the number of channels)
happen when the target is built (:func:`vizlab.targets.build.build_target`). Kinds registered
by plugins under the ``vizlab.targets`` entry-point group are checked against the plugin's own
``Options`` dataclass when it declares one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from vizlab.errors import VizlabError
from vizlab.schema import OptionError, check_finite, check_positive, require, typed

INDEX_HELP = "an integer >= 0, a non-empty list of integers, or a range 'start:stop' (start < stop)"


def parse_indices(index: Any, key: str = "index") -> list[int] | None:
    """``target.index``: an int, a non-empty list of ints, or ``'start:stop'`` (end
    exclusive, start < stop); None stays None. Raises :class:`OptionError` otherwise (floats
    such as 1.5 and booleans included)."""
    if index is None:
        return None
    if isinstance(index, (ListConfig, DictConfig)):
        index = OmegaConf.to_container(index)
    if isinstance(index, bool):
        raise OptionError(key, index, f"must be {INDEX_HELP}")
    if isinstance(index, int):
        require(index >= 0, key, index, f"must be {INDEX_HELP}")
        return [index]
    if isinstance(index, (list, tuple)):
        ok = bool(index) and all(
            isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in index
        )
        require(ok, key, index, f"must be {INDEX_HELP}")
        return [int(i) for i in index]
    if isinstance(index, str):
        text = index.strip()
        if text.isdigit():
            return [int(text)]
        parts = text.split(":")
        ok = len(parts) == 2 and all(p.strip().isdigit() for p in parts)
        require(ok, key, index, f"must be {INDEX_HELP}")
        start, stop = (int(p) for p in parts)
        require(start < stop, key, index, f"must be {INDEX_HELP}; here start >= stop")
        return list(range(start, stop))
    raise OptionError(key, index, f"must be {INDEX_HELP}")


def _check_tokens(value: Any) -> None:
    from vizlab.targets.tokens import parse_tokens

    try:
        parse_tokens(value)
    except VizlabError as err:
        raise OptionError("tokens", value, str(err).split(": ", 1)[-1]) from None


@dataclass
class _Units:
    def __post_init__(self) -> None:
        if hasattr(self, "index"):
            parse_indices(self.index)


@dataclass
class LayerTarget(_Units):
    kind: str = "layer"
    layer: str = "???"
    index: Any = None
    mask_window: Any = None
    mask_channels: Any = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mask_window is not None:
            check_positive("mask_window", self.mask_window, integer=True)
        parse_indices(self.mask_channels, "mask_channels")


@dataclass
class LogitTarget(_Units):
    kind: str = "logit"
    layer: str = "output"
    index: Any = "???"


@dataclass
class ChannelTarget(_Units):
    kind: str = "channel"
    layer: str = "???"
    index: Any = "???"


@dataclass
class NeuronTarget(_Units):
    kind: str = "neuron"
    layer: str = "???"
    index: Any = "???"
    position: Any = None

    def __post_init__(self) -> None:
        super().__post_init__()
        p = self.position
        if p is None or isinstance(p, str):
            return  # 'center' or a ViT patch spec, checked against the layer at build time
        ok = isinstance(p, (list, tuple, int)) and not isinstance(p, bool)
        if isinstance(p, (list, tuple)):
            ok = len(p) == 2 and all(isinstance(v, int) and v >= 0 for v in p)
        require(ok, "position", p, "must be [y, x] (integers >= 0), a patch index, or center")


@dataclass
class DirectionTarget:
    kind: str = "direction"
    layer: str = "???"
    vector: Any = "random"
    channels: Any = None
    seed: int = 0
    tokens: Any = "all"

    def __post_init__(self) -> None:
        parse_indices(self.channels, "channels")
        _check_tokens(self.tokens)
        v = self.vector
        if isinstance(v, (list, tuple)):
            require(len(v) > 0, "vector", v, "must be a non-empty list of numbers")
            for x in v:
                check_finite("vector", x)
        else:
            require(
                v is None or isinstance(v, str),
                "vector",
                v,
                "must be 'random', a list of numbers or a path to a .pt/.npy/.txt file",
            )


@dataclass
class TokenDimTarget(_Units):
    kind: str = "token_dim"
    layer: str = "???"
    index: Any = "???"
    tokens: Any = "all"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_tokens(self.tokens)


@dataclass
class VitMlpTarget(_Units):
    kind: str = "vit_mlp"
    block: int | None = None
    layer: str | None = None
    index: Any = "???"
    tokens: Any = "all"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_tokens(self.tokens)
        if self.block is not None:
            check_positive("block", self.block, integer=True, allow_zero=True)
        require(
            self.block is not None or bool(self.layer),
            "block",
            self.block,
            "target=vit_mlp needs target.block=<block number> or an explicit target.layer",
        )


@dataclass
class CompositeTarget:
    kind: str = "composite"
    terms: list[Any] = "???"  # type: ignore[assignment]

    def __post_init__(self) -> None:
        require(
            isinstance(self.terms, list) and len(self.terms) > 0,
            "terms",
            self.terms,
            "must be a non-empty list of target configs, each with an optional weight",
        )


SCHEMAS: dict[str, type] = {
    "layer": LayerTarget,
    "logit": LogitTarget,
    "channel": ChannelTarget,
    "neuron": NeuronTarget,
    "direction": DirectionTarget,
    "token_dim": TokenDimTarget,
    "vit_mlp": VitMlpTarget,
    "composite": CompositeTarget,
}
"""Built-in target kinds and their schemas."""


@dataclass
class PluginTarget:
    """A target kind registered by a plugin: its checked options (the plugin's ``Options``
    instance, or the plain dict of its keys when it declares none)."""

    kind: str
    options: Any
    weight: float = 1.0


def _as_dict(node: Any, prefix: str) -> dict[str, Any]:
    if node is None:
        raise VizlabError(f"{prefix} is empty; give a target config, e.g. {prefix}.kind=channel.")
    data = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node
    if not isinstance(data, dict):
        raise VizlabError(
            f"{prefix}={node!r} is not a target config (a mapping with a 'kind' key)."
        )
    return dict(data)


def validate_target(node: Any, prefix: str = "target") -> Any:
    """The typed target config (a dataclass of :data:`SCHEMAS`, or :class:`PluginTarget`).

    A composite's terms are checked one by one (each may carry a finite ``weight``)."""
    from vizlab import registry

    data = _as_dict(node, prefix)
    kind = data.get("kind", "layer")
    if kind in SCHEMAS:
        if kind == "composite":
            composite = typed(CompositeTarget, data, prefix)
            checked = []
            for k, term in enumerate(composite.terms):
                where = f"{prefix}.terms[{k}]"
                term = _as_dict(term, where)
                weight = term.pop("weight", 1.0)
                try:
                    check_finite("weight", weight)
                except OptionError as err:
                    raise VizlabError(
                        f"Invalid value {where}.weight={weight!r}: {err.valid}."
                    ) from None
                checked.append((float(weight), validate_target(term, where)))
            composite.terms = checked
            return composite
        return typed(SCHEMAS[kind], data, prefix)
    registry.require_known("vizlab.targets", kind, list(SCHEMAS), f"{prefix}.kind")
    factory = registry.load_entry("vizlab.targets", kind)
    return PluginTarget(kind, registry.plugin_options(factory, data, prefix, drop=("kind",)))
