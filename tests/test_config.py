"""Every config group composes, alone and with the others (hydra.compose, as run.py would)."""

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests.conftest import compose

CONF = Path(__file__).resolve().parents[1] / "conf"
GROUPS = sorted(p.name for p in CONF.iterdir() if p.is_dir())


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def test_defaults_compose_to_the_main_job():
    cfg = compose()
    assert cfg.model.name == "tf_efficientnet_lite0"
    assert cfg.method.name == "inversion"
    assert cfg.data.image == "chelsea"
    assert cfg.method.iterations == 300 and cfg.method.finetune_iterations == 50
    assert set(cfg.regularizers) >= {"alpha_norm", "tv", "jitter"}
    assert cfg.logger.wandb.mode is None  # W&B's own $WANDB_MODE, else offline


@pytest.mark.parametrize(
    ("group", "option"), [(g, o) for g in GROUPS if g != "experiment" for o in _options(g)]
)
def test_every_option_of_every_group_composes(group, option):
    cfg = compose(f"{group}={option}")
    node = cfg.get(group, None)
    assert node is not None or group == "regularizers"
    # Everything except required user values (???) resolves.
    OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)


@pytest.mark.parametrize("experiment", _options("experiment"))
def test_experiments_compose(experiment):
    cfg = compose(f"experiment={experiment}")
    assert cfg.method.name


def test_regularizer_stack_entries_can_be_removed_and_added():
    cfg = compose("~regularizers.tv", "+regularizers.l2.weight=0.5")
    assert "tv" not in cfg.regularizers
    assert cfg.regularizers.l2.weight == 0.5
    assert "alpha_norm" in cfg.regularizers


def test_cli_contract_names_exist():
    cfg = compose("method=activation_max", "target=logit", "target.index=301")
    for key in ("iterations", "C", "num_inits", "seed"):
        assert key in cfg.method
    assert cfg.target.index == 301
    cfg = compose("method.C=300", "target.layer=blocks.1", "device=cpu", "model.pretrained=false")
    assert cfg.method.C == 300 and cfg.target.layer == "blocks.1"
    assert "checkpoint" in cfg.model and "pretrained" in cfg.model


def test_config_dir_is_the_checkout_conf_or_a_clear_error(monkeypatch, tmp_path):
    from vizlab.config import config_dir
    from vizlab.errors import VizlabError

    assert config_dir() == CONF
    monkeypatch.setenv("VIZLAB_CONF", str(tmp_path))
    with pytest.raises(VizlabError, match="VIZLAB_CONF"):
        config_dir()


def test_plugin_configs_compose_when_hydra_misses_the_search_path_plugin(monkeypatch):
    """Hydra's scan of the hydra_plugins namespace misses packages installed in PEP 660
    editable mode; vizlab registers its search-path plugin itself, so plugin configs compose
    anyway (and fail to without that registration)."""
    pytest.importorskip("vizlab_example_model")
    from hydra.core.plugins import Plugins
    from hydra.plugins.search_path_plugin import SearchPathPlugin

    import vizlab.config
    from vizlab.errors import VizlabError

    registered = Plugins.instance().plugin_type_to_subclass_list
    scanned_without_vizlab = [
        c for c in registered[SearchPathPlugin] if c.__name__ != "VizlabPluginSearchPath"
    ]
    monkeypatch.setitem(registered, SearchPathPlugin, list(scanned_without_vizlab))
    with monkeypatch.context() as m:
        m.setattr(vizlab.config, "register_plugin_configs", lambda: None)
        with pytest.raises(VizlabError, match="example_cnn"):
            compose("model=example_cnn")
    assert compose("model=example_cnn").model._target_ == "vizlab_example_model.build"
    assert compose("model=example_cnn").model.input.range == [0, 255]


def test_vizlab_run_is_run_py_with_sweeps(tmp_path):
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "vizlab.cli", "run", "-m", "model=tiny_cnn", "method=filters"]
    cmd += ["data.size=32", "logger=local", "progress=false", "method.seed=0,1"]
    cmd += [f"hydra.sweep.dir={tmp_path}"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = sorted(p.parent.name for p in tmp_path.glob("*/metrics.json"))
    assert len(jobs) == 2 and jobs[0].startswith("0_") and "method.seed=1" in jobs[1]
    bad = subprocess.run(
        [sys.executable, "-m", "vizlab.cli", "run", "model=tiny_cnn", "method.C=-3"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert bad.returncode == 2 and "method.C" in bad.stderr


def test_subcommands_of_other_modules_are_imported_lazily_with_a_clear_error():
    from vizlab import cli
    from vizlab.errors import VizlabError

    with pytest.raises(VizlabError, match="needs the module vizlab.not_there"):
        cli._delegate("report", "vizlab.not_there")(["x"])
