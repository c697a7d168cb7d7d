"""The Python API: ``vizlab.run`` / ``vizlab.context`` / ``vizlab.render``, and the README's
Python example, executed as written but on the tiny model at a tiny size."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import vizlab
import vizlab.api
from vizlab.errors import VizlabError
from vizlab.methods.base import Result, RunContext

ROOT = Path(__file__).resolve().parents[1]
QUIET = ("logger=local", "progress=false")
TINY = ("model=tiny_cnn", "data.size=64", *QUIET)


def test_import_vizlab_is_cheap():
    code = "import sys, vizlab; print('torch' in sys.modules, sorted(vizlab.__all__))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[0] == "False ['context', 'render', 'run']"


def test_run_returns_the_result_and_writes_the_run_folder(tmp_path):
    result = vizlab.run(
        *TINY,
        "target.layer=blocks.3",
        "method.iterations=2",
        "method.finetune_iterations=0",
        output_dir=tmp_path / "inv",
    )
    assert isinstance(result, Result) and result.images["preimage"].shape == (64, 64, 3)
    metrics = json.loads((tmp_path / "inv" / "metrics.json").read_text())
    assert metrics["method"] == "inversion" and metrics["model"] == "test_efficientnet"
    assert metrics["reconstruction_error"] == pytest.approx(result.metrics["reconstruction_error"])


def test_run_without_output_dir_writes_a_fresh_folder_under_outputs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    overrides = (*TINY, "method=filters")
    vizlab.run(*overrides)
    vizlab.run(*overrides)
    runs = sorted((tmp_path / "outputs").glob("*/*_filters*"))
    assert len(runs) == 2 and all((r / "metrics.json").is_file() for r in runs)


def test_run_takes_a_model_object(tmp_path):
    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
            self.head = nn.Linear(8, 4)

        def forward(self, x):
            return self.head(self.conv(x).relu().mean(dim=(2, 3)))

    net = Tiny()
    result = vizlab.run(
        "method=gradcam", "model.input={size: 32}", *QUIET, model=net, output_dir=tmp_path
    )
    assert result.metrics["model"] == "Tiny" and result.metrics["layer"] == "conv"


def test_context_builds_what_a_method_receives():
    ctx = vizlab.context(*TINY, "method=inversion", "method.C=20")
    assert isinstance(ctx, RunContext)
    assert ctx.options.C == 20 and ctx.model.spec.size == (64, 64)
    assert ctx.references.images.shape[-2:] == (64, 64)


def test_bad_input_is_one_clear_error():
    with pytest.raises(VizlabError, match="overrides are strings"):
        vizlab.run("model=tiny_cnn", 5)
    with pytest.raises(VizlabError, match="not a torch.nn.Module"):
        vizlab.context(*TINY, model="resnet18")
    with pytest.raises(VizlabError, match="method.C"):
        vizlab.context(*TINY, "method.C=-1")


def test_render_is_the_engine():
    from vizlab.preimage import render

    assert vizlab.render is render


def _readme_python_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## From Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_python_example_runs(tmp_path, monkeypatch):
    """The example as written, with each run shrunk: the tiny model instead of the default
    EfficientNet-Lite0, 64 px images, 2 iterations, local logging."""
    compose = vizlab.api.compose

    def tiny_compose(overrides):
        cfg = compose(overrides)
        extra = ["data.size=64", *QUIET]
        if cfg.model.name == "tf_efficientnet_lite0":
            extra.append("model=tiny_cnn")
        small = {"iterations": 2, "finetune_iterations": 0, "transfer_models": [],
                 "reference_set": "data"}  # fmt: skip
        for key, value in small.items():
            if key in cfg.method:
                extra.append(f"method.{key}={value}")
        return compose([*overrides, *extra])

    render = vizlab.render

    def tiny_render(model, objective, **kwargs):
        return render(model, objective, **{**kwargs, "iterations": 2, "size": 32})

    monkeypatch.setattr(vizlab.api, "compose", tiny_compose)
    monkeypatch.setattr(vizlab, "render", tiny_render)
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    exec(compile(_readme_python_example(), "README.md", "exec"), {})  # noqa: S102
    assert (tmp_path / "outputs" / "resnet18_cam" / "metrics.json").is_file()
    assert len(list((tmp_path / "outputs").glob("*/*_activation_max/metrics.json"))) == 1
