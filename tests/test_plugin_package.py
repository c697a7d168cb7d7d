"""The example third-party plugin in plugins/ (installed by .ci/run) registers its method and
its Hydra config from its own package."""

import importlib.util
import json
from pathlib import Path

import pytest

from tests.test_end_to_end import run_py
from vizlab import registry

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("vizlab_layer_stats") is None,
    reason="pip install -e plugins/vizlab-layer-stats",
)


def test_plugin_is_discovered_with_its_package():
    assert registry.available()["layer_stats"].package == "vizlab-layer-stats"


def test_plugin_method_runs_from_the_command_line_with_its_own_config(tmp_path):
    run_py(
        "method=layer_stats",
        "model=tiny_cnn",
        "data.size=64",
        "target.layer=blocks.2",
        "logger=local",
        f"hydra.run.dir={tmp_path}",
    )
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["channels"] == 32 and len(metrics["top_channels"]) == 16
    assert (tmp_path / "layer_stats.png").is_file()


@pytest.mark.skipif(
    importlib.util.find_spec("vizlab_example_model") is None,
    reason="pip install -e plugins/vizlab-example-model",
)
def test_a_config_only_plugin_adds_its_conf_folder_to_the_search_path():
    """plugins/vizlab-example-model registers under vizlab.configs (it has no method); its
    conf/ joins Hydra's search path like a method plugin's."""
    import vizlab_example_model

    from hydra_plugins.vizlab_searchpath.searchpath import plugin_conf_dirs

    conf = Path(vizlab_example_model.__file__).parent / "conf"
    assert conf in plugin_conf_dirs()
    assert Path(vizlab_layer_stats_conf()) in plugin_conf_dirs()


def vizlab_layer_stats_conf() -> Path:
    spec = importlib.util.find_spec("vizlab_layer_stats")
    return Path(spec.origin).parent / "conf"
