"""vizlab installed from a wheel (not from its checkout) works from any folder: the wheel
carries the configs, the console command runs, and a plugin installed as a wheel composes its
own conf/. The venv sees the system's packages (torch, timm, ...) but gets vizlab and the
example model plugin only from the wheels built here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "plugins" / "vizlab-example-model"
SOURCES = ("pyproject.toml", "setup.py", "README.md", "vizlab", "hydra_plugins", "conf")


def _sh(*cmd: str | Path, cwd: Path, timeout: float = 600) -> str:
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true", MPLBACKEND="Agg")
    env.pop("VIZLAB_CONF", None)
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def _copy_sources(dest: Path) -> Path:
    """The files a wheel is built from, copied so the build writes no build/ or egg-info
    into the working tree (and stale build/ files cannot leak into the wheel)."""
    dest.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        else:
            shutil.copy2(src, dest / name)
    return dest


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh venv with vizlab's and the example plugin's wheels installed (no deps)."""
    tmp = tmp_path_factory.mktemp("wheel")
    vizlab_src = _copy_sources(tmp / "vizlab-src")
    plugin_src = tmp / "plugin-src"
    shutil.copytree(PLUGIN, plugin_src, ignore=shutil.ignore_patterns("*.egg-info", "__py*"))
    wheels = tmp / "wheels"
    pip = (sys.executable, "-m", "pip", "--disable-pip-version-check", "-q")
    _sh(*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", wheels,
        vizlab_src, plugin_src, cwd=tmp)  # fmt: skip
    env_dir = tmp / "venv"
    _sh(sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", env_dir, cwd=tmp)
    python = env_dir / "bin" / "python"
    _sh(*pip, "--python", python, "install", "--no-deps", *sorted(wheels.glob("*.whl")), cwd=tmp)
    return env_dir


@pytest.fixture
def elsewhere(tmp_path) -> Path:
    """A folder outside the checkout (no conf/ or run.py around)."""
    return tmp_path


def test_the_wheel_carries_the_configs_and_the_hydra_plugin(venv):
    (wheel,) = (venv.parent / "wheels").glob("vizlab-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    packaged = {n.removeprefix("vizlab/conf/") for n in names if n.startswith("vizlab/conf/")}
    in_checkout = {str(p.relative_to(ROOT / "conf")) for p in (ROOT / "conf").rglob("*.yaml")}
    assert packaged == in_checkout
    assert "hydra_plugins/vizlab_searchpath/searchpath.py" in names
    assert not any(n.startswith("conf/") for n in names)  # no top-level 'conf' package


def test_console_command_lists_methods(venv, elsewhere):
    out = _sh(venv / "bin" / "vizlab", "methods", cwd=elsewhere)
    assert "activation_max" in out and "inversion" in out


def test_console_command_lists_layers(venv, elsewhere):
    out = _sh(venv / "bin" / "vizlab", "layers", "model=tiny_cnn", "--no-rf", cwd=elsewhere)
    assert out.startswith("test_efficientnet: input 3x") and "blocks.3" in out


def test_console_command_runs_a_method_into_the_current_folder(venv, elsewhere):
    _sh(
        venv / "bin" / "vizlab",
        "run",
        "method=activation_max",
        "target=logit",
        "target.index=301",
        "model=tiny_cnn",
        "data.size=64",
        "method.iterations=1",
        "method.transfer_models=[]",  # no pretrained lite1/lite2 loads
        "method.reference_set=data",  # the unit's maximum M over chelsea only
        "logger=local",
        "progress=false",
        cwd=elsewhere,
    )
    (metrics,) = (elsewhere / "outputs").glob("*/*_activation_max/metrics.json")
    assert (metrics.parent / "visualization.png").is_file()


def test_a_plugin_installed_as_a_wheel_composes_its_own_conf(venv, elsewhere):
    code = (
        "import vizlab, vizlab.config as c, hydra_plugins.vizlab_searchpath as h;"
        "import vizlab_example_model as p;"
        "m = c.compose(['model=example_cnn']).model;"
        "print(vizlab.__file__, c.config_dir(), h.__file__, p.__file__);"
        "print(m._target_, m.input.range[1])"
    )
    paths, composed = _sh(venv / "bin" / "python", "-c", code, cwd=elsewhere).splitlines()
    for path in paths.split():  # vizlab, its configs and the plugin all come from the wheels
        assert Path(path).is_relative_to(venv), paths
    assert composed.split() == ["vizlab_example_model.build", "255"]
