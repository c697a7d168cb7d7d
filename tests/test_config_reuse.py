"""While a sweep runs, its jobs' configs are composed from one defaults list and one merge per
set of group choices: the same configs as Hydra composes from scratch, each job its own copy,
and no config file read again for a job that only changes values."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from vizlab.config import config_dir, register_plugin_configs
from vizlab.config_reuse import forget_compositions, reuse_compositions
from vizlab.sweep import SweepSummary

JOBS = [
    ["method.seed=1"],
    ["method.seed=2"],
    ["method.C=3", "method.seed=1"],
    ["model=efficientnet_lite0", "method.seed=1"],
    ["model=efficientnet_lite0", "method.seed=5"],
    ["method=activation_max"],
    ["method=activation_max", "+extra=3"],
    ["hydra/launcher=joblib", "method.seed=1"],
    ["data.image=coffee", "hydra.job.name=other"],
    ["~logger"],
    ["logger=local", "method.seed=7"],
    ["experiment=mv_fig6", "method.seed=1"],
    ["experiment=mv_fig6", "method.seed=2"],
    ["method.no_such_knob=1"],
    ["model=no_such_model"],
]


@pytest.fixture
def loader():
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode

    register_plugin_configs()
    forget_compositions()
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration(
            "config", overrides=["model=tiny_cnn"], run_mode=RunMode.MULTIRUN
        )
        yield lambda overrides: loader.load_sweep_config(master, list(overrides))
    forget_compositions()


def _described(compose, overrides):
    """The config as text with the flags and types Hydra gives it, or the error."""
    try:
        cfg = compose(overrides)
    except Exception as err:  # noqa: BLE001 - the same error is the same result
        return f"{type(err).__name__}: {err}"
    flags = [
        OmegaConf.is_struct(cfg),
        OmegaConf.is_readonly(cfg),
        OmegaConf.is_readonly(cfg.hydra),
        OmegaConf.get_type(cfg.hydra),
        OmegaConf.get_type(cfg.hydra.job),
    ]
    return OmegaConf.to_yaml(cfg) + repr(flags)


@pytest.fixture
def config_reads(monkeypatch) -> list:
    """The config files Hydra reads from now on, by path."""
    from hydra._internal.core_plugins.file_config_source import FileConfigSource

    reads: list = []
    original = FileConfigSource.load_config
    monkeypatch.setattr(
        FileConfigSource,
        "load_config",
        lambda self, config_path: reads.append(config_path) or original(self, config_path),
    )
    return reads


def test_reused_compositions_are_hydras_configs(loader):
    scratch = [_described(loader, job) for job in JOBS]
    assert reuse_compositions()
    for _ in range(2):  # first filling, then reusing
        assert [_described(loader, job) for job in JOBS] == scratch


def test_a_job_that_changes_values_reads_no_config_file(loader, config_reads):
    reads = config_reads
    SweepSummary().on_multirun_start(config=None)  # what a sweep does first
    first = loader(["method.seed=1"])
    assert reads  # composed from the files once
    reads.clear()
    later = loader(["method.seed=2"])
    assert reads == ["config"]  # only the primary config, for its search path (Hydra's)
    assert (first.method.seed, later.method.seed) == (1, 2)
    first.method.C = 12345.0  # each job its own copy
    assert loader(["method.seed=1"]).method.C != 12345.0
    loader(["model=efficientnet_lite0"])
    assert "model/efficientnet_lite0" in reads  # other group choices: composed anew


def test_nothing_is_reused_after_the_sweep(loader, config_reads):
    assert reuse_compositions()
    loader(["method.seed=1"])
    forget_compositions()
    reads = config_reads
    reads.clear()
    loader(["method.seed=2"])
    assert "model/efficientnet_lite0" in reads and "method/inversion" in reads
