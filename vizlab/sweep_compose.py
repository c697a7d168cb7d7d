"""Compose each job's config of a sweep once instead of twice.

Hydra's sweeper composes every job's config of a batch to check it before launching any job
(a bad override fails before work starts), and then the launcher composes each job's config
again. Composing takes about 0.1 s of CPU per job (OmegaConf merges), a third of what a job of
a sweep on a tiny model costs besides. :func:`reuse_checked_configs` keeps the configs the check
composed and hands each to the launcher's request for the same overrides (one each, in order),
so the checks stay and the second composition goes. A launcher that composes in other
processes (joblib) composes there as before. Hydra's internals are wrapped only when they
have the expected shape; otherwise nothing changes.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)

_checked: dict[tuple[int, tuple[str, ...]], list[Any]] = defaultdict(list)
_state = {"checking": False}


def _key(master_config: Any, overrides: Sequence[str]) -> tuple[int, tuple[str, ...]]:
    return id(master_config), tuple(str(o) for o in overrides)


def reuse_checked_configs() -> bool:
    """Wrap Hydra's sweep check and sweep composition (once per process); whether it is done."""
    try:
        from hydra._internal.config_loader_impl import ConfigLoaderImpl
        from hydra.plugins.sweeper import Sweeper
    except ImportError as err:  # another Hydra layout: compose twice as Hydra does
        log.debug("not reusing checked sweep configs: %s", err)
        return False
    if getattr(ConfigLoaderImpl, "_vizlab_reuses_checked", False):
        return True
    compose = getattr(ConfigLoaderImpl, "load_sweep_config", None)
    check = getattr(Sweeper, "validate_batch_is_legal", None)
    if compose is None or check is None:
        return False

    def load_sweep_config(self: Any, master_config: Any, sweep_overrides: list[str]) -> Any:
        key = _key(master_config, sweep_overrides)
        if _state["checking"]:
            config = compose(self, master_config, sweep_overrides)
            _checked[key].append(config)
            return config
        if _checked.get(key):
            return _checked[key].pop(0)
        return compose(self, master_config, sweep_overrides)

    def validate_batch_is_legal(self: Any, batch: Sequence[Sequence[str]]) -> None:
        _state["checking"] = True
        try:
            check(self, batch)
        finally:
            _state["checking"] = False

    ConfigLoaderImpl.load_sweep_config = load_sweep_config  # type: ignore[method-assign]
    Sweeper.validate_batch_is_legal = validate_batch_is_legal  # type: ignore[method-assign]
    ConfigLoaderImpl._vizlab_reuses_checked = True  # type: ignore[attr-defined]
    return True


def forget_checked_configs() -> None:
    """Drop the configs no launcher asked for (e.g. composed by joblib's workers instead)."""
    _checked.clear()
