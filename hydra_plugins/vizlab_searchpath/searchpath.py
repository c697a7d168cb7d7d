"""Lets third-party method plugins ship Hydra configs: for every package registered under the
``vizlab.methods`` entry-point group that has a ``conf/`` folder (e.g. ``conf/method/x.yaml``),
that folder joins Hydra's config search path, so ``method=x`` composes. Plugin code is not
imported here; a broken plugin cannot break config composition."""

from __future__ import annotations

import importlib.util
from importlib.metadata import entry_points
from pathlib import Path

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


def plugin_conf_dirs() -> list[Path]:
    dirs: list[Path] = []
    for ep in entry_points(group="vizlab.methods"):
        top = ep.value.split(":", 1)[0].split(".", 1)[0]
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
    return dirs


class VizlabPluginSearchPath(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        for conf in plugin_conf_dirs():
            search_path.append(provider="vizlab-plugin", path=f"file://{conf}")
