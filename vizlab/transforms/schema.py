"""Typed ``transforms`` configs: an ordered mapping of entries, each a transform applied to
the image before the model every step (Olah et al. 2017's pad, jitter, scale, rotate; MaCo's
crop) or a post-step hook (Yosinski et al. 2015's blur and clipping), or a plugin's transform
registered under the ``vizlab.transforms`` entry-point group. ``type`` defaults to the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vizlab.errors import VizlabError
from vizlab.schema import (
    check_choice,
    check_finite,
    check_positive,
    check_range,
    entries_of,
    require,
    typed,
)

PAD_MODES = ("constant", "reflect", "replicate")


@dataclass
class PadOptions:
    width: int = 12
    mode: str = "constant"
    value: float = 0.0
    enabled: bool = True

    def __post_init__(self) -> None:
        check_positive("width", self.width, integer=True, allow_zero=True)
        check_choice("mode", self.mode, PAD_MODES)
        check_finite("value", self.value)


@dataclass
class JitterOptions:
    pixels: int = 8
    mode: str = "reflect"
    enabled: bool = True

    def __post_init__(self) -> None:
        check_positive("pixels", self.pixels, integer=True, allow_zero=True)
        check_choice("mode", self.mode, PAD_MODES)


@dataclass
class ScaleOptions:
    low: float = 0.9
    high: float = 1.1
    fill: float = 0.0
    enabled: bool = True

    def __post_init__(self) -> None:
        check_range("low", self.low, 0.05, 20.0)
        check_range("high", self.high, 0.05, 20.0)
        require(self.low <= self.high, "high", self.high, f"must be >= low ({self.low})")
        check_finite("fill", self.fill)


@dataclass
class RotateOptions:
    degrees: float = 10.0
    fill: float = 0.0
    enabled: bool = True

    def __post_init__(self) -> None:
        check_range("degrees", self.degrees, 0.0, 180.0)
        check_finite("fill", self.fill)


@dataclass
class CropOptions:
    low: float = 0.5
    high: float = 1.0
    enabled: bool = True

    def __post_init__(self) -> None:
        check_range("low", self.low, 0.0, 1.0)
        require(self.low > 0, "low", self.low, "must be in (0, 1] (a fraction of each side)")
        check_range("high", self.high, 0.0, 1.0)
        require(self.low <= self.high, "high", self.high, f"must be in [low={self.low}, 1]")


@dataclass
class BlurOptions:
    every: int = 4
    sigma: float = 0.5
    enabled: bool = True

    def __post_init__(self) -> None:
        check_positive("every", self.every, integer=True)
        check_range("sigma", self.sigma, 0.0, 100.0)


@dataclass
class PercentileOptions:
    percentile: float = 20.0
    enabled: bool = True

    def __post_init__(self) -> None:
        check_range("percentile", self.percentile, 0.0, 100.0)
        require(self.percentile < 100, "percentile", self.percentile, "must be in [0, 100)")


SCHEMAS: dict[str, type] = {
    "pad": PadOptions,
    "jitter": JitterOptions,
    "scale": ScaleOptions,
    "rotate": RotateOptions,
    "crop": CropOptions,
    "blur": BlurOptions,
    "clip_norm": PercentileOptions,
    "clip_contribution": PercentileOptions,
}


@dataclass
class TransformEntry:
    """One checked entry: its type, its options (a dataclass above, or a plugin's
    ``Options`` instance / plain dict) and whether it is enabled."""

    type: str
    options: Any
    enabled: bool = True
    plugin: bool = False


def validate_transforms(node: Any, prefix: str = "transforms") -> dict[str, TransformEntry]:
    """Entry name -> :class:`TransformEntry`, in order (None or empty: no transforms)."""
    from vizlab import registry

    data = entries_of(
        node,
        prefix,
        f"a transforms config (a mapping of entries such as {prefix}.jitter.pixels=8); "
        "presets: transforms=standard, crops, yosinski, none.",
    )
    out: dict[str, TransformEntry] = {}
    for key, entry in data.items():
        where = f"{prefix}.{key}"
        if entry is not None and not isinstance(entry, dict):
            raise VizlabError(f"{where}={entry!r} is not a transform entry (a mapping).")
        entry = dict(entry or {})
        kind = entry.pop("type", key)
        if kind in SCHEMAS:
            options = typed(SCHEMAS[kind], entry, where)
            out[str(key)] = TransformEntry(str(kind), options, options.enabled)
            continue
        named = where if kind == key else f"{where}.type"
        registry.require_known("vizlab.transforms", kind, list(SCHEMAS), named)
        enabled = entry.pop("enabled", True)
        require_bool(enabled, f"{where}.enabled")
        factory = registry.load_entry("vizlab.transforms", kind)
        options = registry.plugin_options(factory, entry, where)
        out[str(key)] = TransformEntry(str(kind), options, bool(enabled), plugin=True)
    return out


def require_bool(value: Any, key: str) -> None:
    if not isinstance(value, bool):
        raise VizlabError(f"Invalid value {key}={value!r}: expected true or false.")
