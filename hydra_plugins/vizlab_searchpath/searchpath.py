"""Lets third-party plugins ship Hydra configs: for every package registered under one of
vizlab's entry-point groups (``vizlab.methods``, ``vizlab.targets``, ... or ``vizlab.configs``
for a package that only ships configs) that has a ``conf/`` folder (e.g.
``conf/method/x.yaml``), that folder joins Hydra's config search path, so ``method=x``
composes. Plugin code is not imported here; a broken plugin cannot break config composition."""

from __future__ import annotations

import functools
import importlib.util
import sys
from importlib.metadata import entry_points
from pathlib import Path

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin

PROVIDER = "vizlab-plugin"


def plugin_conf_dirs() -> list[Path]:
    """The ``conf/`` folders of the top-level packages named by vizlab's entry points."""
    return list(_plugin_conf_dirs_on_path(tuple(sys.path)))


@functools.lru_cache(maxsize=8)
def _plugin_conf_dirs_on_path(path: tuple[str, ...]) -> tuple[Path, ...]:
    """:func:`plugin_conf_dirs`, found once per ``sys.path`` from one read of the installed
    distributions' entry points (each read opens every distribution's metadata; Hydra asks
    at each composition of vizlab's config in a process). A changed ``sys.path`` reads them
    again; a package installed into an unchanged path is seen by the next process."""
    del path  # the cache key only
    dirs: list[Path] = []
    installed = entry_points()
    groups = sorted(g for g in installed.groups if g.startswith("vizlab."))
    for ep in (ep for group in groups for ep in installed.select(group=group)):
        top = ep.value.split(":", 1)[0].split(".", 1)[0].strip()
        if top == "vizlab":
            continue
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            continue
        for loc in (spec.submodule_search_locations or []) if spec else []:
            conf = Path(loc) / "conf"
            if conf.is_dir() and conf not in dirs:
                dirs.append(conf)
    return tuple(dirs)


class VizlabPluginSearchPath(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        present = {element.path for element in search_path.get_path()}
        for conf in plugin_conf_dirs():
            path = f"file://{conf}"
            if path not in present:  # the class may be registered twice (scan + vizlab)
                search_path.append(provider=PROVIDER, path=path)
                present.add(path)
