"""Discovery of methods and components through entry-point groups.

Methods register under ``vizlab.methods`` (built-in ones too, in vizlab's own pyproject.toml).
Plugins extend the pre-image engine under ``vizlab.targets`` (objectives),
``vizlab.params`` (image parameterizations), ``vizlab.regularizers`` (penalties) and
``vizlab.transforms`` (per-step transforms); the builders look a name up here when it is not
one of the built-in ones. A plugin that fails to import is reported once (with its package and
error) as one :class:`VizlabError` and does not break the others.

A component entry point names a factory (a class or function). If the factory has an
``Options`` attribute (a dataclass), the component's config node is checked against it (see
:mod:`vizlab.schema`) and the instance is passed to the factory; otherwise the node's keys are
passed as a plain dict.
"""

from __future__ import annotations

import functools
import logging
import sys
from dataclasses import dataclass, is_dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from vizlab.errors import VizlabError, format_choices, nearest

if TYPE_CHECKING:
    from vizlab.methods.base import Method

GROUP = "vizlab.methods"
COMPONENT_GROUPS = (
    "vizlab.targets",
    "vizlab.params",
    "vizlab.regularizers",
    "vizlab.transforms",
)
GROUPS = (GROUP, *COMPONENT_GROUPS)
"""Every entry-point group vizlab reads."""

_WHAT = {
    "vizlab.methods": "method",
    "vizlab.targets": "target kind",
    "vizlab.params": "parameterization",
    "vizlab.regularizers": "regularizer",
    "vizlab.transforms": "transform",
}
log = logging.getLogger(__name__)
_reported: set[str] = set()


@dataclass(frozen=True)
class EntryInfo:
    name: str
    target: str  # "module:attr"
    package: str  # distribution that registered it


MethodInfo = EntryInfo


def _entry_points(group: str = GROUP) -> list[EntryPoint]:
    return list(_entry_points_on_path(group, tuple(sys.path)))


@functools.lru_cache(maxsize=32)
def _entry_points_on_path(group: str, path: tuple[str, ...]) -> tuple[EntryPoint, ...]:
    """The installed entry points of ``group``, read once per ``sys.path``: scanning every
    distribution's metadata takes ~10-30 ms, several times per job of a sweep. A changed
    ``sys.path`` (a plugin folder added at run time) reads them again; a package installed
    into an unchanged path while a process runs is seen by the next process."""
    del path  # the cache key only
    return tuple(entry_points(group=group))


def available(group: str = GROUP) -> dict[str, EntryInfo]:
    """Registered names of ``group`` -> where they come from (no plugin code is imported)."""
    found: dict[str, EntryInfo] = {}
    for ep in _entry_points(group):
        dist = getattr(ep, "dist", None)
        package = dist.metadata["Name"] if dist is not None else "?"
        found.setdefault(ep.name, EntryInfo(ep.name, ep.value, package))
    return dict(sorted(found.items()))


def load_entry(group: str, name: str, builtin: tuple[str, ...] = ()) -> Any:
    """The object registered as ``name`` in ``group``: one clear error for an unknown name
    (listing ``builtin`` names too) or a plugin that fails to import."""
    what = _WHAT.get(group, "entry")
    eps = {ep.name: ep for ep in reversed(_entry_points(group))}
    if name not in eps:
        names = sorted(set(builtin) | set(eps))
        hint = nearest(name, names)
        raise VizlabError(
            f"Unknown {what} '{name}'. Valid: {format_choices(names, 40)}"
            + (f" (did you mean {hint[0]}?)" if hint else "")
            + f". Plugins register under the '{group}' entry-point group."
        )
    ep = eps[name]
    try:
        return ep.load()
    except Exception as err:  # noqa: BLE001 - a broken plugin must not take others down
        if ep.value not in _reported:
            _reported.add(ep.value)
            log.warning(
                "%s plugin '%s' (%s) failed to import: %s: %s",
                what,
                name,
                ep.value,
                type(err).__name__,
                err,
            )
        raise VizlabError(
            f"The {what} plugin '{name}' ({ep.value}) failed to import: "
            f"{type(err).__name__}: {err}. Reinstall or fix that package; the rest of vizlab "
            "still works."
        ) from err


def require_known(group: str, name: str, builtin: tuple[str, ...] | list[str], key: str) -> None:
    """Raise a :class:`VizlabError` for ``key=name`` unless ``name`` is one of ``builtin`` or
    registered in ``group`` (the message lists both, with the nearest name as a hint)."""
    if name in builtin:
        return
    plugins = available(group)
    if name in plugins:
        return
    what = _WHAT.get(group, "entry")
    names = sorted(builtin) + sorted(plugins)
    hint = nearest(str(name), names, n=1)
    raise VizlabError(
        f"Invalid value {key}={name!r}: not a {what}. Valid: {format_choices(names, 40)}"
        + (f" (did you mean {hint[0]}?)" if hint else "")
        + f". Plugins add more under the '{group}' entry-point group."
    )


def plugin_options(
    factory: Any, node: DictConfig | dict | None, prefix: str, drop: tuple[str, ...] = ()
) -> Any:
    """A plugin component's options: ``node`` without the ``drop`` keys, checked against the
    factory's ``Options`` dataclass when it declares one (else a plain dict)."""
    if isinstance(node, DictConfig):
        data = OmegaConf.to_container(node, resolve=True)
    else:
        data = dict(node or {})
    assert isinstance(data, dict)
    data = {k: v for k, v in data.items() if k not in drop}
    schema = getattr(factory, "Options", None)
    if schema is None:
        return data
    if not is_dataclass(schema):
        raise VizlabError(f"{prefix}: the plugin's Options ({schema!r}) is not a dataclass.")
    from vizlab.schema import typed

    return typed(schema, data, prefix)


def load(name: str) -> type[Method]:
    """The method class registered as ``name``; clear errors for unknown or broken plugins."""
    from vizlab.methods.base import Method

    cls = load_entry(GROUP, name)
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        ep = available(GROUP)[name]
        raise VizlabError(
            f"Entry point '{name}' ({ep.target}) is not a vizlab.methods.Method class."
        )
    return cls


def loadable() -> dict[str, EntryInfo | str]:
    """Every registered method, or the import error of the ones that are broken."""
    out: dict[str, EntryInfo | str] = {}
    for name, info in available().items():
        try:
            load(name)
            out[name] = info
        except VizlabError as err:
            out[name] = str(err)
    return out
