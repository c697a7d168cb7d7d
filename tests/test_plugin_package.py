"""The example third-party plugin in plugins/ (installed by .ci/run) registers its method and
its Hydra config from its own package."""

import importlib.util
import json

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
