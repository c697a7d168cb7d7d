"""Bad input gives one clear paragraph and a non-zero exit, never a stack trace."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


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


def assert_clear_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, (needle, proc.stderr)


@pytest.mark.parametrize(
    ("overrides", "needles"),
    [
        (["target.layer=blocks.9"], ["'blocks.9'", "blocks.6", "named_modules"]),
        (
            [
                "method=activation_max",
                "target=channel",
                "target.layer=blocks.3",
                "target.index=4000",
            ],
            ["4000", "0..79"],
        ),
        (["method=activation_max", "target=logit", "target.index=1000"], ["1000", "0..999"]),
        (["data=folder", "data.path=/no/such/folder"], ["/no/such/folder"]),
        (["data.image=chelsee"], ["chelsee", "chelsea"]),
        (["method.name=inversoin"], ["inversoin", "inversion"]),
        (["model.name=no_such_net"], ["no_such_net"]),
        (["model.checkpoint=/no/such/weights.pth"], ["/no/such/weights.pth"]),
        (["device=cuda"], ["cuda", "device=cpu"]),
    ],
)
def test_bad_input_is_one_clear_error(overrides, needles, tmp_path):
    assert_clear_error(run_cli(*overrides, tmp_path=tmp_path), "vizlab error:", *needles)


def test_unknown_method_config_lists_options(tmp_path):
    proc = run_cli("method=inversoin", tmp_path=tmp_path)
    assert_clear_error(proc, "inversoin", "inversion")


def test_corrupt_image_in_folder(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "broken.jpg").write_bytes(b"not a jpeg at all")
    proc = run_cli("data=folder", f"data.path={folder}", tmp_path=tmp_path)
    assert_clear_error(proc, "broken.jpg", "corrupt")


def test_no_network_for_hub_weights(tmp_path):
    from vizlab.models.loading import hub_reachable

    if hub_reachable():
        pytest.skip("the weights hub is reachable here")
    proc = run_cli("model.name=resnet18", "model.pretrained=true", tmp_path=tmp_path)
    assert_clear_error(proc, "resnet18", "network", "model.checkpoint")
