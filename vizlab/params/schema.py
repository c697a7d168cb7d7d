"""Typed ``param`` configs: one dataclass per image parameterization (``param.name``).

``optimizer`` is the parameterization's own optimizer (checked like the ``optimizer`` group),
or null to use the ``optimizer`` group. Parameterizations registered by plugins under the
``vizlab.params`` entry-point group are checked against the plugin's ``Options`` dataclass
when it declares one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from vizlab.errors import VizlabError
from vizlab.optim.schema import validate_optimizer
from vizlab.schema import check_positive, check_range, typed


@dataclass
class _ParamOptions:
    def _check_optimizer(self, prefix: str) -> None:
        if self.optimizer is not None:  # type: ignore[attr-defined]
            self.optimizer = validate_optimizer(self.optimizer, f"{prefix}.optimizer")


@dataclass
class PixelOptions(_ParamOptions):
    """The pixels themselves (M&V); ``init_scale`` > 0 or null (the method's)."""

    name: str = "pixel"
    optimizer: Any = None
    init_scale: float | None = None
    penalties: bool = True

    def __post_init__(self) -> None:
        if self.init_scale is not None:
            check_positive("init_scale", self.init_scale)


@dataclass
class FourierOptions(_ParamOptions):
    """1/f^decay_power spectrum (Olah et al. 2017): ``decay_power`` >= 0, ``sd`` > 0."""

    name: str = "fourier"
    decay_power: float = 1.0
    sd: float = 0.01
    decorrelate: bool = True
    penalties: bool = False
    optimizer: Any = None

    def __post_init__(self) -> None:
        check_range("decay_power", self.decay_power, 0.0, 10.0)
        check_positive("sd", self.sd)


@dataclass
class MacoOptions(_ParamOptions):
    """Phase only, natural magnitude (Fel et al. 2023)."""

    name: str = "maco"
    decorrelate: bool = True
    penalties: bool = False
    optimizer: Any = None


SCHEMAS: dict[str, type] = {"pixel": PixelOptions, "fourier": FourierOptions, "maco": MacoOptions}


@dataclass
class PluginParam:
    """A parameterization registered by a plugin: its checked options plus the engine's keys."""

    name: str
    options: Any
    optimizer: Any = None
    penalties: bool = False


def validate_param(node: Any, prefix: str = "param") -> Any:
    """The typed param config (a dataclass of :data:`SCHEMAS`, or :class:`PluginParam`)."""
    from vizlab import registry

    if node is None:
        node = {"name": "pixel"}
    if isinstance(node, (PixelOptions, FourierOptions, MacoOptions, PluginParam)):
        return node
    data = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node
    if isinstance(data, str):
        data = {"name": data}
    if not isinstance(data, dict):
        raise VizlabError(f"{prefix}={node!r} is not a parameterization config.")
    name = data.get("name", "pixel")
    if name in SCHEMAS:
        options = typed(SCHEMAS[name], data, prefix)
        options._check_optimizer(prefix)
        return options
    registry.require_known("vizlab.params", name, list(SCHEMAS), f"{prefix}.name")
    data = dict(data)
    optimizer = data.pop("optimizer", None)
    penalties = data.pop("penalties", False)
    if not isinstance(penalties, bool):
        raise VizlabError(f"Invalid value {prefix}.penalties={penalties!r}: true or false.")
    factory = registry.load_entry("vizlab.params", name)
    options = registry.plugin_options(factory, data, prefix, drop=("name",))
    if optimizer is not None:
        optimizer = validate_optimizer(optimizer, f"{prefix}.optimizer")
    return PluginParam(name, options, optimizer, penalties)
