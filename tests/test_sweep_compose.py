"""A sweep composes each job's config once: the configs Hydra's sweeper composes to check a
batch are the ones its launcher then gets (one each, in order, duplicates included)."""

from __future__ import annotations

from vizlab.config import config_dir, register_plugin_configs
from vizlab.sweep_compose import forget_checked_configs, reuse_checked_configs


def test_the_checked_configs_are_the_launched_ones(monkeypatch):
    from hydra import initialize_config_dir
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.core.global_hydra import GlobalHydra
    from hydra.plugins.sweeper import Sweeper
    from hydra.types import RunMode

    assert reuse_checked_configs()
    composed: list = []
    original = ConfigLoaderImpl.load_configuration

    def counting(self, *args, **kwargs):
        composed.append(kwargs.get("overrides"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ConfigLoaderImpl, "load_configuration", counting)

    class Check(Sweeper):
        def setup(self, **kwargs):  # noqa: D102 - unused
            pass

        def sweep(self, arguments):  # noqa: D102 - unused
            pass

    register_plugin_configs()
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration(
            "config", overrides=["model=tiny_cnn"], run_mode=RunMode.MULTIRUN
        )
        sweeper = Check()
        sweeper.config, sweeper.config_loader = master, loader
        batch = [["method.C=1"], ["method.C=2"], ["method.C=1"]]
        composed.clear()
        sweeper.validate_batch_is_legal(batch)
        assert len(composed) == 3
        launched = [loader.load_sweep_config(master, list(o)) for o in batch]
        assert len(composed) == 3  # handed over, not composed again
        assert [c.method.C for c in launched] == [1, 2, 1]
        assert launched[0] is not launched[2]  # each job its own config
        assert loader.load_sweep_config(master, ["method.C=3"]).method.C == 3
        assert len(composed) == 4  # an unchecked request is composed as before
    forget_checked_configs()
