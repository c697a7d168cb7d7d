"""End-to-end runs: the offline pretrained model at small sizes and few steps, plus the full
runner path (local files, W&B offline run, Hydra sweep summary) on a tiny random model."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_context
from vizlab.loggers.wandb_offline import find_run_files, read_offline_run
from vizlab.methods.caricature import Caricature
from vizlab.methods.inversion import Inversion

ROOT = Path(__file__).resolve().parents[1]


def run_py(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), *args, "progress=false"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_inversion_of_a_shallow_layer_on_the_pretrained_model_reaches_low_error():
    ctx = make_context(
        "target.layer=blocks.1",
        "method.C=300",
        "data.size=96",
        "method.iterations=80",
        "method.finetune_iterations=20",
    )
    result = Inversion().run(ctx)
    m = result.metrics
    assert m["reconstruction_error"] < 25.0, m["reconstruction_error"]
    assert 0.0 <= m["naturalness_hist_intersection"] <= 1.0
    assert len(m["reference_top5"]) == 5 and "cat" in m["reference_top5"][0]
    assert result.images["comparison"].shape[1] > result.images["preimage"].shape[1]


def test_inversion_error_falls_with_more_iterations():
    errors = []
    for iterations in (5, 60):
        ctx = make_context(
            "target.layer=blocks.1",
            "method.C=300",
            "data.size=64",
            f"method.iterations={iterations}",
            "method.finetune_iterations=0",
        )
        errors.append(Inversion().run(ctx).metrics["reconstruction_error"])
    assert errors[1] < 0.7 * errors[0], errors


def test_num_inits_runs_one_batch_and_reports_spread():
    ctx = make_context(
        "model=tiny_cnn",
        "data.size=64",
        "target.layer=blocks.1",
        "method.num_inits=3",
        "method.iterations=10",
        "method.finetune_iterations=2",
    )
    m = Inversion().run(ctx).metrics
    assert m["num_inits"] == 3 and len(m["reconstruction_error_per_image"]) == 3
    assert m["reconstruction_error_std_inits"] > 0.0


def test_runner_logs_step_time_and_releases_its_figures(tmp_path):
    """Each pre-image run logs its own step time (benchmarks/run.py reads it), and the runner
    closes the logged figures, so the jobs of an in-process sweep do not pile them up."""
    import matplotlib.pyplot as plt

    from tests.conftest import compose
    from vizlab import runner

    cfg = compose(
        "model=tiny_cnn",
        "data.size=32",
        "method.iterations=4",
        "method.finetune_iterations=1",
        "logger=local",
        "progress=false",
    )
    open_before = len(plt.get_fignums())
    for job in range(2):
        result = runner.run(cfg, tmp_path / str(job))
        assert len(plt.get_fignums()) == open_before
        assert (tmp_path / str(job) / "energy.png").is_file()
    m = result.metrics
    assert m["ms_per_step"] > 0 and m["optimization_seconds"] >= 5 * m["ms_per_step"] / 1e3 * 0.5


def test_caricature_raises_the_inner_product():
    ctx = make_context(
        "method=caricature", "target.layer=blocks.3", "data.size=96", "method.iterations=30"
    )
    m = Caricature().run(ctx).metrics
    assert m["inner_product_ratio_before"] == pytest.approx(1.0, abs=1e-4)
    assert m["inner_product_ratio"] > 1.1 * m["inner_product_ratio_before"], m


def test_run_py_writes_local_files_and_a_wandb_offline_run(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_py(
        "model=tiny_cnn",
        "data.size=64",
        "target.layer=blocks.1",
        "method.iterations=5",
        "method.finetune_iterations=1",
        f"hydra.run.dir={run_dir}",
    )
    assert "reconstruction_error" in proc.stdout
    for name in ("comparison.png", "preimage.png", "metrics.json", "config.yaml"):
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in (
        "reconstruction_error",
        "classification_consistent",
        "reference_top5",
        "preimage_top5",
    ):
        assert key in metrics
    runs = find_run_files(run_dir)
    assert len(runs) == 1
    logged = read_offline_run(runs[0])
    assert logged["history"]["reconstruction_error"] == [
        pytest.approx(metrics["reconstruction_error"])
    ]
    assert "images/comparison/path" in logged["history"]
    assert logged["summary"]["reference_top5"] == metrics["reference_top5"]


@pytest.mark.parametrize("verb", ["start", "log_result", "finish"])
def test_wandb_failure_keeps_local_results(verb, monkeypatch, tmp_path):
    """W&B failing at any point (no network, bad key, service down) never loses local files."""
    from tests.conftest import compose
    from vizlab import runner
    from vizlab.loggers.wandb_logger import WandbLogger

    def fails(self, *args):
        raise ConnectionError("the W&B service is unreachable")

    monkeypatch.setattr(WandbLogger, verb, fails)
    cfg = compose(
        "model=tiny_cnn",
        "data.size=32",
        "target.layer=blocks.1",
        "method.iterations=2",
        "method.finetune_iterations=0",
        "logger=default",
        "logger.wandb.mode=offline",
        "progress=false",
    )
    runner.run(cfg, tmp_path / "run")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert (tmp_path / "run" / "comparison.png").is_file()
    assert json.loads((tmp_path / "run" / "job.json").read_text())["status"] == "complete"
    assert "wandb" in metrics["logger_failures"]


def test_multirun_sweep_writes_summary_and_groups_wandb_runs(tmp_path):
    sweep_dir = tmp_path / "sweep"
    proc = run_py(
        "-m",
        "model=tiny_cnn",
        "data.size=64",
        "target.layer=blocks.1,blocks.2",
        "method.C=300,20",
        "method.iterations=4",
        "method.finetune_iterations=1",
        f"hydra.sweep.dir={sweep_dir}",
    )
    assert "sweep summary" in proc.stdout
    rows = json.loads((sweep_dir / "sweep_summary.json").read_text())
    assert sorted((r["layer"], r["C"]) for r in rows) == [
        ("blocks.1", 20.0),
        ("blocks.1", 300.0),
        ("blocks.2", 20.0),
        ("blocks.2", 300.0),
    ]
    assert (sweep_dir / "sweep_summary.csv").read_text().count("\n") == 5
    assert (sweep_dir / "reconstruction_error_by_layer.png").stat().st_size > 10_000
    groups = set()
    for job in sweep_dir.iterdir():
        if job.is_dir() and (job / "metrics.json").exists():
            (run_file,) = find_run_files(job)
            groups.add(read_offline_run(run_file)["group"])
    assert groups == {sweep_dir.name}


def test_sweep_on_the_joblib_launcher_runs_jobs_in_processes_and_summarizes(tmp_path):
    """Scaling out (SPEC §4): the same sweep on Hydra's joblib launcher (local processes)."""
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    sweep_dir = tmp_path / "sweep"
    run_py(
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "model=tiny_cnn",
        "data.size=32",
        "target.layer=blocks.1,blocks.2",
        "method.iterations=2",
        "method.finetune_iterations=0",
        "logger=local",
        f"hydra.sweep.dir={sweep_dir}",
    )
    rows = json.loads((sweep_dir / "sweep_summary.json").read_text())
    assert sorted(r["layer"] for r in rows) == ["blocks.1", "blocks.2"]
    # the cores are shared among the parallel jobs (joblib limits its workers' threads)
    assert {r["torch_threads"] for r in rows} == {max(1, (os.cpu_count() or 1) // 2)}


def test_vizlab_methods_and_layers_cli():
    env = dict(os.environ)
    out = subprocess.run(
        ["vizlab", "methods"], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0
    lines = {line.split()[0]: line for line in out.stdout.splitlines()[1:] if line.strip()}
    assert "vizlab" in lines["inversion"] and "vizlab" in lines["caricature"]
    out = subprocess.run(
        ["vizlab", "layers", "model=tiny_cnn"], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert "conv_stem" in out.stdout and "blocks.1" in out.stdout
    row = next(line for line in out.stdout.splitlines() if line.startswith("conv_stem "))
    assert row.split()[-2:] == ["2", "3"]  # stride 2, RF 3 for a 3x3 stride-2 stem
