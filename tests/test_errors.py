"""Bad input gives one clear paragraph and a non-zero exit, never a stack trace: through the
command line (one child process) and in-process for the rest (tests/test_bad_inputs.py holds
the full table)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vizlab import runner

ROOT = Path(__file__).resolve().parents[1]
FAST = ["model=tiny_cnn", "data.size=32", "logger=local", "progress=false"]


def run_cli(*overrides: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true", HYDRA_FULL_ERROR="0")
    return subprocess.run(
        [
            sys.executable,
            "run.py",
            *overrides,
            "logger=local",
            "progress=false",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def assert_clear_error(code: int, err: str, *needles: str) -> None:
    assert code != 0, err
    assert "Traceback" not in err, err
    assert "vizlab error:" in err, err
    for needle in needles:
        assert needle in err, (needle, err)


def test_the_command_line_refuses_bad_input_with_one_paragraph(tmp_path):
    proc = run_cli("model=tiny_cnn", "target.layer=blocks.9", tmp_path=tmp_path)
    assert proc.returncode == 2
    assert_clear_error(proc.returncode, proc.stderr, "'blocks.9'", "blocks.4", "named_modules")
    assert [line for line in proc.stderr.splitlines() if line.strip()] == [proc.stderr.strip()]


@pytest.mark.parametrize(
    ("overrides", "needles"),
    [
        (["target.layer=blocks.9"], ["'blocks.9'", "blocks.4", "named_modules"]),
        (
            ["method=activation_max", "target=channel", "target.layer=blocks.3"]
            + ["target.index=4000"],
            ["4000", "0.."],
        ),
        (["method=activation_max", "target=logit", "target.index=1000"], ["1000", "0..999"]),
        (["data=folder", "data.path=/no/such/folder"], ["/no/such/folder"]),
        (["data.image=chelsee"], ["chelsee", "chelsea"]),
        (["method.name=inversoin"], ["inversoin", "inversion"]),
        (["method=inversoin"], ["inversoin", "inversion"]),
        (["model.name=no_such_net"], ["no_such_net"]),
        (["model.checkpoint=/no/such/weights.pth"], ["/no/such/weights.pth"]),
        (["device=cuda"], ["cuda", "device=cpu"]),
    ],
)
def test_bad_input_is_one_clear_error(overrides, needles, tmp_path, capsys):
    code = runner.main([*FAST, *overrides], tmp_path / "run")
    assert_clear_error(code, capsys.readouterr().err, *needles)


def test_corrupt_image_in_folder(tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "broken.jpg").write_bytes(b"not a jpeg at all")
    code = runner.main([*FAST, "data=folder", f"data.path={folder}"], tmp_path / "run")
    assert_clear_error(code, capsys.readouterr().err, "broken.jpg", "corrupt")


def test_no_network_for_hub_weights(tmp_path, capsys):
    from vizlab.models.loading import hub_reachable

    if hub_reachable():
        pytest.skip("the weights hub is reachable here")
    code = runner.main(
        ["data.size=32", "logger=local", "progress=false"]
        + ["model.name=resnet18", "model.pretrained=true"],
        tmp_path / "run",
    )
    assert_clear_error(code, capsys.readouterr().err, "resnet18", "network", "model.checkpoint")
