"""Typed ``regularizers`` configs: each entry of the group is its own node (``alpha_norm``,
``tv``, ``l2``, ``jitter``, or a plugin's penalty registered under the
``vizlab.regularizers`` entry-point group), with ``enabled`` to switch it off and, for
penalties, a ``weight`` >= 0. Constants in paper units (Mahendran & Vedaldi Sect. 3.2-3.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vizlab.schema import check_positive, entries_of, require, typed


@dataclass
class _Penalty:
    def __post_init__(self) -> None:
        check_positive("weight", self.weight, allow_zero=True)  # type: ignore[attr-defined]


@dataclass
class AlphaNormOptions(_Penalty):
    """N_alpha (Eq. 5): ``alpha`` > 0 and ``B`` > 0 (typical pixel RGB norm)."""

    weight: float = 1.0
    alpha: float = 6.0
    B: float = 80.0
    enabled: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive("alpha", self.alpha)
        check_positive("B", self.B)


@dataclass
class TVOptions(_Penalty):
    """TV^beta (Sect. 3.2.2): ``beta`` > 0, ``V`` > 0 or null (B / 6.5)."""

    weight: float = 1.0
    beta: float = 2.0
    V: float | None = None
    B: float = 80.0
    enabled: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive("beta", self.beta)
        check_positive("B", self.B)
        if self.V is not None:
            check_positive("V", self.V)


@dataclass
class L2Options(_Penalty):
    """Simonyan et al.'s L2 decay, normalized by H W B^2."""

    weight: float = 1.0
    B: float = 80.0
    enabled: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive("B", self.B)


@dataclass
class JitterOptions:
    """Eq. (7)'s jitter: ``T`` a whole number >= 1, or ``auto`` (max(1, round(stride / 4)))."""

    T: Any = "auto"
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.T == "auto":
            return
        ok = isinstance(self.T, int) and not isinstance(self.T, bool) and self.T >= 1
        require(ok, "T", self.T, "must be 'auto' or a whole number >= 1")


SCHEMAS: dict[str, type] = {
    "alpha_norm": AlphaNormOptions,
    "tv": TVOptions,
    "l2": L2Options,
    "jitter": JitterOptions,
}


@dataclass
class PluginPenalty:
    """A penalty registered by a plugin: its checked options and weight."""

    name: str
    options: Any
    weight: float = 1.0
    enabled: bool = True


def validate_regularizers(node: Any, prefix: str = "regularizers") -> dict[str, Any]:
    """Entry name -> typed entry (a dataclass of :data:`SCHEMAS` or :class:`PluginPenalty`).
    An entry's ``type`` (default: its key) names the regularizer, so one can appear twice."""
    from vizlab import registry

    data = entries_of(
        node,
        prefix,
        f"a regularizers config (a mapping of entries such as {prefix}.tv.weight=1).",
    )
    out: dict[str, Any] = {}
    for key, entry in data.items():
        where = f"{prefix}.{key}"
        entry = dict(entry or {})
        kind = entry.pop("type", key)
        if kind in SCHEMAS:
            out[str(key)] = typed(SCHEMAS[kind], entry, where)
            continue
        named = where if kind == key else f"{where}.type"
        registry.require_known("vizlab.regularizers", kind, list(SCHEMAS), named)
        weight, enabled = entry.pop("weight", 1.0), entry.pop("enabled", True)
        check = typed(_Weight, {"weight": weight, "enabled": enabled}, where)
        factory = registry.load_entry("vizlab.regularizers", kind)
        options = registry.plugin_options(factory, entry, where)
        out[str(key)] = PluginPenalty(str(kind), options, check.weight, check.enabled)
    return out


@dataclass
class _Weight(_Penalty):
    weight: float = 1.0
    enabled: bool = True
