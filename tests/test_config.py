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
    assert cfg.logger.wandb.mode == "offline"


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
