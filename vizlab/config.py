"""Where vizlab's Hydra configs live and how they are composed outside ``@hydra.main``.

The configs are the repository's top-level ``conf/`` folder. A wheel carries the same files as
the package ``vizlab.conf`` (``setup.py`` maps that package onto ``conf/``), so a checkout, an
editable install and a wheel all compose the same tree. Plugins' own ``conf/`` folders join
Hydra's search path through :func:`register_plugin_configs`, which vizlab calls itself before
composing, so they compose however vizlab and the plugin were installed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vizlab.errors import VizlabError

if TYPE_CHECKING:
    from omegaconf import DictConfig

CONFIG_NAME = "config"


def config_dir() -> Path:
    """The config folder: ``$VIZLAB_CONF``, the packaged ``vizlab/conf`` of a wheel, or the
    checkout's top-level ``conf/``."""
    env = os.environ.get("VIZLAB_CONF")
    here = Path(__file__).resolve().parent
    candidates = [Path(env)] if env else [here / "conf", here.parent / "conf"]
    for path in candidates:
        if (path / f"{CONFIG_NAME}.yaml").is_file():
            return path
    raise VizlabError(
        f"Could not find vizlab's config folder (tried {', '.join(map(str, candidates))}). "
        "Reinstall vizlab (`pip install vizlab` or `pip install -e .` in its repository), or "
        "set VIZLAB_CONF to a folder holding config.yaml."
    )


def register_plugin_configs() -> None:
    """Add every plugin's ``conf/`` folder to Hydra's config search path.

    Hydra finds search-path plugins by scanning the ``hydra_plugins`` namespace package, which
    misses packages installed in PEP 660 editable mode; registering the plugin class here as
    well makes plugin configs compose in every install mode. Idempotent."""
    from hydra.core.plugins import Plugins
    from hydra.plugins.search_path_plugin import SearchPathPlugin

    from hydra_plugins.vizlab_searchpath.searchpath import VizlabPluginSearchPath

    plugins = Plugins.instance()
    names = {cls.__name__ for cls in plugins.discover(SearchPathPlugin)}
    if VizlabPluginSearchPath.__name__ not in names:
        plugins.register(VizlabPluginSearchPath)


def compose(overrides: Sequence[str] = ()) -> DictConfig:
    """The config ``python run.py OVERRIDES`` would run, composed without a Hydra run (no run
    folder, no logging set-up). A bad override is a :class:`VizlabError`."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException

    overrides = list(overrides)
    register_plugin_configs()
    try:
        with initialize_config_dir(str(config_dir()), version_base="1.3"):
            return hydra_compose(CONFIG_NAME, overrides=overrides)
    except HydraException as err:
        raise VizlabError(f"Bad override(s) {overrides}: {one_paragraph(str(err))}") from err


def one_paragraph(message: str) -> str:
    """Hydra's multi-line composition error as one paragraph: the option lists joined by
    commas, the config search path left out."""
    text = message.split("Config search path:")[0]
    parts = []
    for block in text.split("\n\n"):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if lines and lines[0].endswith(":") and len(lines) > 1:
            parts.append(f"{lines[0]} {', '.join(lines[1:])}.")
        else:
            parts.append(" ".join(lines))
    return " ".join(p for p in parts if p)
