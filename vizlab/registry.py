"""Method discovery through the ``vizlab.methods`` entry-point group.

Built-in methods are registered the same way, in vizlab's own pyproject.toml. A plugin that
fails to import is reported once (with its package and error) and does not break the others.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from vizlab.errors import VizlabError, format_choices, nearest
from vizlab.methods.base import Method

GROUP = "vizlab.methods"
log = logging.getLogger(__name__)
_reported: set[str] = set()


@dataclass(frozen=True)
class MethodInfo:
    name: str
    target: str  # "module:attr"
    package: str  # distribution that registered it


def _entry_points() -> list[EntryPoint]:
    return list(entry_points(group=GROUP))


def available() -> dict[str, MethodInfo]:
    """Registered method names -> where they come from (no plugin code is imported)."""
    found: dict[str, MethodInfo] = {}
    for ep in _entry_points():
        dist = getattr(ep, "dist", None)
        package = dist.metadata["Name"] if dist is not None else "?"
        found.setdefault(ep.name, MethodInfo(ep.name, ep.value, package))
    return dict(sorted(found.items()))


def load(name: str) -> type[Method]:
    """The method class registered as ``name``; clear errors for unknown or broken plugins."""
    eps = {ep.name: ep for ep in reversed(_entry_points())}
    if name not in eps:
        names = sorted(eps)
        hint = nearest(name, names)
        raise VizlabError(
            f"Unknown method '{name}'. Registered methods: {format_choices(names, 40)}"
            + (f" (did you mean {hint[0]}?)" if hint else "")
            + f". Plugins register under the '{GROUP}' entry-point group."
        )
    ep = eps[name]
    try:
        cls = ep.load()
    except Exception as err:  # noqa: BLE001 - a broken plugin must not take others down
        if ep.value not in _reported:
            _reported.add(ep.value)
            log.warning(
                "method plugin '%s' (%s) failed to import: %s: %s",
                name,
                ep.value,
                type(err).__name__,
                err,
            )
        raise VizlabError(
            f"The method plugin '{name}' ({ep.value}) failed to import: "
            f"{type(err).__name__}: {err}. Reinstall or fix that package; other methods still work."
        ) from err
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise VizlabError(
            f"Entry point '{name}' ({ep.value}) is not a vizlab.methods.Method class."
        )
    return cls


def loadable() -> dict[str, MethodInfo | str]:
    """Every registered method, or the import error of the ones that are broken."""
    out: dict[str, MethodInfo | str] = {}
    for name, info in available().items():
        try:
            load(name)
            out[name] = info
        except VizlabError as err:
            out[name] = str(err)
    return out
