"""A table of bad inputs a user might type: each is refused with exit code 2, one paragraph
starting ``vizlab error:`` that names the key (or value), and no traceback.

The runner's in-process entry (``vizlab.runner.main``) is called with captured output rather
than spawning ``python run.py`` per row; the table is what docs/reliability.md shows.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vizlab import runner

pytestmark = pytest.mark.usefixtures("one_thread")

FAST = {
    "model": "tiny_cnn",
    "data.size": "32",
    "logger": "local",
    "progress": "false",
}
"""Overrides every row starts from (a row's own value of a key wins)."""
FAST_INVERSION = {"method.iterations": "2", "method.finetune_iterations": "0"}

# (row id, overrides, strings the message must contain)
BAD_INPUTS: list[tuple[str, list[str], list[str]]] = [
    # method options
    ("iterations-zero", ["method.iterations=0"], ["method.iterations"]),
    ("iterations-text", ["method.iterations=abc"], ["method.iterations", "abc"]),
    ("iterations-float", ["method.iterations=2.5"], ["method.iterations"]),
    ("finetune-negative", ["method.finetune_iterations=-1"], ["method.finetune_iterations"]),
    ("num-inits-zero", ["method.num_inits=0"], ["method.num_inits"]),
    ("num-inits-text", ["method.num_inits=many"], ["method.num_inits"]),
    ("C-nan", ["method.C=nan"], ["method.C"]),
    ("C-inf", ["method.C=inf"], ["method.C"]),
    ("C-negative", ["method.C=-5"], ["method.C"]),
    ("C-text", ["method.C=big"], ["method.C"]),
    ("seed-text", ["method.seed=abc"], ["method.seed"]),
    ("unknown-method-key", ["+method.iteration=5"], ["iteration"]),
    ("method-name-typo", ["method.name=inversoin"], ["inversoin", "inversion"]),
    ("method-group-typo", ["method=inversoin"], ["inversoin"]),
    (
        "am-iterations-text",
        ["method=activation_max", "method.iterations=ten"],
        ["method.iterations"],
    ),
    ("occlusion-stride-text", ["method=occlusion", "method.stride=abc"], ["method.stride"]),
    ("occlusion-patch-zero", ["method=occlusion", "method.patch=0"], ["method.patch"]),
    ("adversarial-steps-text", ["method=adversarial", "method.steps=abc"], ["method.steps"]),
    ("adversarial-attack-typo", ["method=adversarial", "method.attack=pdg"], ["method.attack"]),
    ("deepdream-octaves-text", ["method=deepdream", "method.octaves=abc"], ["method.octaves"]),
    ("saliency-kind-typo", ["method=saliency", "method.kind=gradeint"], ["method.kind"]),
    # target
    ("index-empty-list", ["target=channel", "target.index=[]"], ["target.index"]),
    ("index-bad-range", ["target=channel", "target.index='5:2'"], ["target.index"]),
    ("index-float", ["target=channel", "target.index=1.5"], ["target.index"]),
    ("index-negative", ["target=channel", "target.index=-1"], ["target.index"]),
    ("index-text", ["target=channel", "target.index=abc"], ["target.index"]),
    ("index-too-large", ["target=channel", "target.layer=blocks.1", "target.index=4000"], ["4000"]),
    ("layer-unknown", ["target.layer=blocks.99"], ["blocks.99"]),
    ("layer-never-runs", ["model=tiny_vit", "target.layer=blocks.0.attn.attn_drop"], ["never"]),
    (
        "logit-out-of-range",
        ["method=activation_max", "target=logit", "target.index=1000"],
        ["1000"],
    ),
    ("target-kind-typo", ["target.kind=chanel"], ["target.kind"]),
    # optimizer, regularizers, param, transforms
    ("lr-negative", ["optimizer.lr=-1"], ["optimizer.lr"]),
    ("rho-above-one", ["optimizer.rho=1.5"], ["optimizer.rho"]),
    ("optimizer-typo", ["optimizer.name=adamw"], ["optimizer.name"]),
    ("adam-betas", ["optimizer=adam", "optimizer.betas=[0.9]"], ["optimizer.betas"]),
    ("alpha-zero", ["regularizers.alpha_norm.alpha=0"], ["regularizers.alpha_norm.alpha"]),
    ("tv-V-zero", ["regularizers.tv.V=0"], ["regularizers.tv.V"]),
    ("tv-beta-text", ["regularizers.tv.beta=two"], ["regularizers.tv.beta"]),
    ("fourier-sd-negative", ["param=fourier", "param.sd=-1"], ["param.sd"]),
    (
        "transform-degrees-text",
        ["transforms=standard", "transforms.rotate.degrees=abc"],
        ["transforms.rotate.degrees"],
    ),
    # data
    ("image-typo", ["data.image=chelsee"], ["data.image", "chelsea"]),
    ("image-missing-file", ["data.image=/no/such/photo.png"], ["data.image", "/no/such/photo.png"]),
    ("image-is-folder", ["data.image=/tmp"], ["data.image"]),
    ("images-empty", ["data.images=[]"], ["data.image"]),
    ("folder-without-path", ["data=folder"], ["data.path"]),
    (
        "folder-missing",
        ["data=folder", "data.path=/no/such/folder"],
        ["data.path", "/no/such/folder"],
    ),
    ("source-typo", ["data.source=web"], ["data.source"]),
    ("size-too-small", ["data.size=3"], ["data.size"]),
    ("size-text", ["data.size=big"], ["data.size"]),
    ("size-absurd", ["data.size=100000"], ["GiB", "data.size"]),
    ("batch-absurd", ["data.size=2048", "method.num_inits=5000"], ["GiB", "method.num_inits"]),
    # model
    ("model-name-unknown", ["model.name=no_such_net"], ["no_such_net"]),
    ("model-group-typo", ["model=resnet"], ["resnet"]),
    ("checkpoint-missing", ["model.checkpoint=/no/such/weights.pth"], ["/no/such/weights.pth"]),
    # top level
    ("threads-zero", ["threads=0"], ["threads"]),
    ("threads-negative", ["threads=-2"], ["threads"]),
    ("threads-text", ["threads=two"], ["threads"]),
    ("progress-text", ["progress=maybe"], ["progress"]),
    ("device-typo", ["device=gpu"], ["device"]),
    ("device-cuda-absent", ["device=cuda"], ["cuda"]),
    ("precision-typo", ["precision=fp8"], ["precision"]),
    ("stray-top-level-key", ["+iterations=5"], ["iterations", "method.iterations"]),
    ("top-level-no-plus", ["iterations=5"], ["iterations"]),
    ("sweep-resume-text", ["sweep.resume=maybe"], ["sweep.resume"]),
    ("wandb-mode-typo", ["logger=default", "logger.wandb.mode=onlin"], ["logger.wandb.mode"]),
]


def _overrides(row: list[str]) -> list[str]:
    base = dict(FAST)
    if not any(o.startswith("method=") for o in row):
        base.update(FAST_INVERSION)
    keys = {o.lstrip("+~").split("=", 1)[0] for o in row}
    return [f"{k}={v}" for k, v in base.items() if k not in keys] + row


def assert_refused(code: int, err: str, needles: list[str]) -> None:
    assert code == 2, (code, err)
    assert "Traceback" not in err, err
    assert err.startswith("vizlab error:"), err
    assert len(err.strip().splitlines()) == 1, err  # one paragraph
    for needle in needles:
        assert needle in err, (needle, err)


@pytest.mark.parametrize(
    ("overrides", "needles"), [r[1:] for r in BAD_INPUTS], ids=[r[0] for r in BAD_INPUTS]
)
def test_bad_input_is_refused_with_one_paragraph(overrides, needles, tmp_path, capsys):
    code = runner.main(_overrides(overrides), tmp_path / "run")
    assert_refused(code, capsys.readouterr().err, needles)


def test_the_table_has_at_least_forty_rows():
    assert len(BAD_INPUTS) >= 40


def test_unreadable_image_in_a_folder_names_the_file_and_skip_bad(tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "broken.jpg").write_bytes(b"not a jpeg at all")
    code = runner.main(_overrides(["data=folder", f"data.path={folder}"]), tmp_path / "run")
    assert_refused(code, capsys.readouterr().err, ["broken.jpg", "data.skip_bad=true"])


def test_zero_limit_of_a_folder(tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "a.png")
    code = runner.main(
        _overrides(["data=folder", f"data.path={folder}", "data.limit=0"]), tmp_path / "run"
    )
    assert_refused(code, capsys.readouterr().err, ["data.limit"])


def test_unwritable_output_folder(tmp_path, capsys):
    """The run folder cannot be created (a file is in the way: fails even for root)."""
    blocker = tmp_path / "outputs"
    blocker.write_text("a file, not a folder")
    code = runner.main(_overrides([]), blocker / "run")
    assert_refused(code, capsys.readouterr().err, [str(blocker / "run")])


def test_refusal_comes_before_the_model_loads(monkeypatch, tmp_path, capsys):
    """Validation needs no model: a bad value is refused even if loading would fail."""

    def no_model(*_args, **_kwargs):
        raise AssertionError("the model was loaded before validation")

    monkeypatch.setattr(runner, "load_model", no_model)
    code = runner.main(_overrides(["optimizer.lr=-1"]), tmp_path / "run")
    assert_refused(code, capsys.readouterr().err, ["optimizer.lr"])
