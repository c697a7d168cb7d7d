"""The plugins' config folders on Hydra's search path are found from one read of the
installed entry points per ``sys.path``, however often Hydra composes vizlab's config."""

from __future__ import annotations

import sys

from hydra_plugins.vizlab_searchpath import searchpath


def test_entry_points_are_read_once_per_sys_path(monkeypatch, tmp_path):
    scans = []
    real = searchpath.entry_points
    monkeypatch.setattr(searchpath, "entry_points", lambda **kw: scans.append(kw) or real(**kw))
    cache = getattr(searchpath, "_plugin_conf_dirs_on_path", None)
    if cache is not None:
        cache.cache_clear()
    first = searchpath.plugin_conf_dirs()
    for _ in range(3):
        assert searchpath.plugin_conf_dirs() == first
    assert len(scans) == 1
    monkeypatch.setattr(sys, "path", [*sys.path, str(tmp_path)])  # a folder added at run time
    assert searchpath.plugin_conf_dirs() == first
    assert len(scans) == 2


def test_the_folders_are_those_of_every_vizlab_group(monkeypatch):
    """The same folders as a read of each group on its own (the formula before the cache)."""
    from importlib.metadata import entry_points

    expected = []
    for group in sorted(g for g in entry_points().groups if g.startswith("vizlab.")):
        for ep in entry_points(group=group):
            top = ep.value.split(":", 1)[0].split(".", 1)[0].strip()
            spec = None if top == "vizlab" else searchpath.importlib.util.find_spec(top)
            for loc in (spec.submodule_search_locations or []) if spec else []:
                conf = searchpath.Path(loc) / "conf"
                if conf.is_dir() and conf not in expected:
                    expected.append(conf)
    assert searchpath.plugin_conf_dirs() == expected
