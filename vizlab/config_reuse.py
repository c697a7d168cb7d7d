"""Compose the jobs of a sweep from one defaults list and one merge per set of group choices.

Hydra composes each job's config from scratch: it builds the defaults list (reading every
config file of the tree), merges those files, and then applies the job's value overrides
(``method.seed=3``, ``method.C=20``). The jobs of a sweep over values share the first two
steps, which are most of the composition. While a sweep runs, :func:`reuse_compositions` keeps
the defaults list of each set of group choices (``model=tiny_cnn``, ``hydra/launcher=...``) and
the merge of each defaults list, and gives each job a copy of the merge to apply its own value
overrides to, as Hydra does; group overrides, the config name, the search path or a missing
group value that differ make their own entries. Nothing is reused between sweeps
(:func:`forget_compositions`), so config files edited between two runs are read again.

Hydra's internals are wrapped only when they have the expected shape; otherwise every job is
composed from scratch as before.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

log = logging.getLogger(__name__)

_state: dict[str, Any] = {"active": False}
_defaults: dict[tuple, Any] = {}
_merged: dict[tuple, Any] = {}


def reuse_compositions() -> bool:
    """Wrap Hydra's defaults-list creation and merge (once per process) and start reusing them
    until :func:`forget_compositions`; whether they are reused."""
    try:
        from hydra._internal import config_loader_impl as loader
        from hydra._internal.defaults_list import DefaultsList, Overrides
    except ImportError as err:  # another Hydra layout: compose every job as Hydra does
        log.debug("not reusing compositions: %s", err)
        return False
    if not getattr(loader, "_vizlab_reuses_compositions", False):
        create = getattr(loader, "create_defaults_list", None)
        merge = getattr(loader.ConfigLoaderImpl, "_compose_config_from_defaults_list", None)
        if create is None or merge is None:
            return False

        def create_defaults_list(
            repo: Any,
            config_name: Any,
            overrides_list: list,
            prepend_hydra: bool,
            skip_missing: bool,
        ) -> Any:
            def fresh() -> Any:
                return create(
                    repo=repo,
                    config_name=config_name,
                    overrides_list=overrides_list,
                    prepend_hydra=prepend_hydra,
                    skip_missing=skip_missing,
                )

            if not _state["active"]:
                return fresh()
            try:
                overrides = Overrides(repo=repo, overrides_list=overrides_list)
                values = {id(o) for o in overrides.config_overrides}
                choices = tuple(repr(o) for o in overrides_list if id(o) not in values)
                key = (_sources(repo), config_name, prepend_hydra, skip_missing, choices)
            except Exception:  # noqa: BLE001 - Hydra reports the bad override itself
                return fresh()
            if key not in _defaults:
                made = fresh()
                _defaults[key] = (
                    copy.deepcopy(made.defaults),
                    made.defaults_tree,
                    dict(made.overrides.known_choices),
                    copy.deepcopy(made.overrides.known_choices_per_group),
                )
                return made
            defaults, tree, known, per_group = _defaults[key]
            overrides.known_choices = dict(known)
            overrides.known_choices_per_group = copy.deepcopy(per_group)
            return DefaultsList(
                defaults=copy.deepcopy(defaults),
                defaults_tree=tree,
                config_overrides=overrides.config_overrides,
                overrides=overrides,
            )

        def compose_config_from_defaults_list(self: Any, defaults: list, repo: Any) -> Any:
            if not _state["active"]:
                return merge(self, defaults, repo)
            key = (
                _sources(repo),
                tuple(
                    (d.config_path, d.parent, d.package, d.is_self, d.primary, d.override_key)
                    for d in defaults
                ),
            )
            if key not in _merged:
                config = merge(self, defaults, repo)
                _merged[key] = copy.deepcopy(config)  # Hydra goes on to change its own
                return config
            return copy.deepcopy(_merged[key])

        loader.create_defaults_list = create_defaults_list
        loader.ConfigLoaderImpl._compose_config_from_defaults_list = (  # type: ignore[method-assign]
            compose_config_from_defaults_list
        )
        loader._vizlab_reuses_compositions = True  # type: ignore[attr-defined]
    _state["active"] = True
    return True


def forget_compositions() -> None:
    """Stop reusing and drop what was kept (the next composition reads the files again)."""
    _state["active"] = False
    _defaults.clear()
    _merged.clear()


def _sources(repo: Any) -> tuple:
    """The config search path a repository reads (a different one composes differently)."""
    return tuple((type(s).__name__, s.provider, s.path) for s in repo.get_sources())
