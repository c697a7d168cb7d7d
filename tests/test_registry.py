"""Entry-point discovery: built-ins, a plugin registered at test time, a broken plugin."""

import importlib
import sys
import textwrap

import pytest

from vizlab import registry
from vizlab.errors import VizlabError
from vizlab.methods.inversion import Inversion


def _install_fake_distribution(tmp_path, dist: str, module: str, source: str, entries: dict):
    """Create an importable module plus a .dist-info with entry points on sys.path, which is
    all importlib.metadata needs to discover a plugin (what pip install would leave)."""
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
    # The folder name carries the normalized name (dashes would end the name at 'vizlab').
    info = tmp_path / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = "\n".join(f"{k} = {v}" for k, v in entries.items())
    (info / "entry_points.txt").write_text(f"[vizlab.methods]\n{lines}\n")


@pytest.fixture
def plugin_path(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield tmp_path
    for name in ("vizlab_test_plugin", "vizlab_broken_plugin"):
        sys.modules.pop(name, None)


def test_builtin_methods_are_registered_through_entry_points():
    found = registry.available()
    for name in ("inversion", "activation_max", "caricature"):
        assert found[name].package == "vizlab"
    assert registry.load("inversion") is Inversion


def test_plugin_registered_at_test_time_is_discovered(plugin_path):
    _install_fake_distribution(
        plugin_path,
        "vizlab-test-plugin",
        "vizlab_test_plugin",
        """
        from vizlab.methods.base import Method, Result

        class Echo(Method):
            name = "echo"

            def run(self, ctx):
                return Result(metrics={"echo": 1.0})
        """,
        {"echo": "vizlab_test_plugin:Echo"},
    )
    found = registry.available()
    assert found["echo"].package == "vizlab-test-plugin"
    assert found["inversion"].package == "vizlab"  # the plugin adds, never shadows
    cls = registry.load("echo")
    assert cls().run(None).metrics == {"echo": 1.0}


def test_broken_plugin_is_reported_and_others_still_work(plugin_path, caplog):
    _install_fake_distribution(
        plugin_path,
        "vizlab-broken-plugin",
        "vizlab_broken_plugin",
        "import this_module_does_not_exist\n",
        {"broken": "vizlab_broken_plugin:Nope"},
    )
    with pytest.raises(VizlabError) as err:
        registry.load("broken")
    assert "broken" in str(err.value) and "this_module_does_not_exist" in str(err.value)
    assert registry.load("inversion") is Inversion
    status = registry.loadable()
    assert isinstance(status["broken"], str) and not isinstance(status["inversion"], str)
    # Reported once, not at every lookup.
    caplog.clear()
    with pytest.raises(VizlabError):
        registry.load("broken")
    assert not [r for r in caplog.records if "broken" in r.getMessage()]


def test_unknown_method_lists_available():
    with pytest.raises(VizlabError) as err:
        registry.load("inversoin")
    msg = str(err.value)
    assert "inversoin" in msg and "inversion" in msg and "activation_max" in msg


def test_entry_points_are_read_once_per_sys_path(plugin_path, monkeypatch):
    """A sweep looks plugins up several times per job; the metadata scan runs once per path."""
    scans = []
    real = registry.entry_points
    monkeypatch.setattr(registry, "entry_points", lambda **kw: scans.append(kw) or real(**kw))
    registry._entry_points_on_path.cache_clear()
    for _ in range(3):
        registry.available()
        registry.load("inversion")
    assert len(scans) == 1
    (plugin_path / "more").mkdir()
    _install_fake_distribution(
        plugin_path / "more",
        "vizlab-late-plugin",
        "vizlab_late_plugin",
        "from vizlab.methods.inversion import Inversion as Late\n",
        {"late": "vizlab_late_plugin:Late"},
    )
    monkeypatch.syspath_prepend(str(plugin_path / "more"))  # a new path is read again
    assert "late" in registry.available()
    assert len(scans) == 2
    sys.modules.pop("vizlab_late_plugin", None)
