"""Runs and sweeps never lose work: distinct run folders, safe job folder names, interrupts
that keep what was computed, resumable sweeps, failed jobs that do not stop a sweep, and
metrics that are never NaN without a flag."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vizlab import interrupts, runner
from vizlab.jobs import JobRecord, find_complete, read_record
from vizlab.loggers.base import NONFINITE_KEY, flag_nonfinite
from vizlab.loggers.local import LocalLogger
from vizlab.methods.base import Result
from vizlab.rundirs import JOB_NAME_LIMIT, job_name, sweep_dir, unique_dir

ROOT = Path(__file__).resolve().parents[1]
TINY = ["model=tiny_cnn", "data.size=32", "logger=local", "progress=false"]


# ----- run folders ----------------------------------------------------------------------------
def _make(base: str) -> str:
    return unique_dir(base)


def test_runs_started_together_get_distinct_folders(tmp_path):
    base = str(tmp_path / "outputs" / "12-00-00_inversion")
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        made = pool.map(_make, [base] * 8)
    assert len(set(made)) == 8
    assert all(Path(m).is_dir() and Path(m).parent == Path(base).parent for m in made)


@pytest.mark.parametrize(
    "dirname",
    [
        "data.image=/a/b/c.png",
        "data.images=[/x/y.png,/x/z.png]",
        "method.C=" + "9" * 400,
        "a=..,b=../../etc",
        "",
    ],
)
def test_job_folder_names_are_one_safe_bounded_level(dirname):
    name = job_name(dirname)
    assert "/" not in name and "\\" not in name and name not in ("", ".", "..")
    assert 0 < len(name) <= JOB_NAME_LIMIT


def test_long_job_names_stay_distinct():
    a, b = job_name("x=" + "a" * 200 + "1"), job_name("x=" + "a" * 200 + "2")
    assert a != b and len(a) == len(b) <= JOB_NAME_LIMIT


def test_sweep_resume_finds_the_folder_of_the_same_command(tmp_path):
    root = tmp_path / "multirun"
    first = sweep_dir(str(root), "d/10-00-00_inversion", "false", ["method.C=1,2"])
    other = sweep_dir(str(root), "d/10-00-01_inversion", "false", ["method.C=3,4"])
    again = sweep_dir(
        str(root), "d/10-00-02_inversion", "true", ["method.C=1,2", "sweep.resume=true"]
    )
    fresh = sweep_dir(str(root), "d/10-00-00_inversion", "false", ["method.C=1,2"])
    assert again == first and other != first
    assert fresh != first  # without resume, the same second and command still get a new folder


# ----- metrics --------------------------------------------------------------------------------
def test_non_finite_metrics_are_null_and_flagged(tmp_path):
    metrics = {"error": float("nan"), "ok": 1.5, "per_image": [1.0, float("inf")], "name": "x"}
    flagged = flag_nonfinite(metrics)
    assert flagged["error"] is None and flagged["per_image"] == [1.0, None]
    assert flagged[NONFINITE_KEY] == ["error", "per_image"]
    logger = LocalLogger(tmp_path)
    logger.start({})
    logger.log_result(Result(metrics=metrics))
    text = (tmp_path / "metrics.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text)[NONFINITE_KEY] == ["error", "per_image"]
    assert not any(isinstance(v, float) and not math.isfinite(v) for v in flagged.values())


# ----- interrupts in-process -------------------------------------------------------------------
def test_sigterm_becomes_keyboard_interrupt_and_the_handler_is_restored():
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), interrupts.as_keyboard_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    assert signal.getsignal(signal.SIGTERM) is previous
    interrupts.clear()


def test_signals_while_writing_are_deferred():
    with interrupts.deferred():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.1)
    assert interrupts.stop_requested()
    interrupts.clear()


def test_a_method_without_partial_result_still_leaves_config_and_metrics(
    monkeypatch, tmp_path, capsys
):
    from vizlab.methods.inversion import Inversion

    def interrupted(self, ctx):
        raise KeyboardInterrupt

    monkeypatch.setattr(Inversion, "run", interrupted)
    code = runner.main([*TINY, "method.iterations=2"], tmp_path / "run")
    err = capsys.readouterr().err
    assert code == 130 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["interrupted"] is True
    assert (tmp_path / "run" / "config.yaml").is_file()
    assert read_record(tmp_path / "run").status == "interrupted"


def test_an_interrupt_before_the_first_step_completes_keeps_the_partial_result(
    monkeypatch, tmp_path, capsys
):
    """A signal during the first step (a loaded machine, a slow model) leaves no energy in
    the history: the method still reports what exists instead of failing on an empty list."""
    from vizlab.preimage import loop

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "jitter_crops", interrupted)
    code = runner.main([*TINY, "method.iterations=2"], tmp_path / "run")
    err = capsys.readouterr().err
    assert code == 130 and "Traceback" not in err, err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["interrupted"] is True and metrics["final_energy"] is None
    assert read_record(tmp_path / "run").status == "interrupted"


def test_a_failing_run_records_its_error(monkeypatch, tmp_path, capsys):
    from vizlab.errors import NonFiniteError
    from vizlab.methods.inversion import Inversion

    def diverges(self, ctx):
        raise NonFiniteError("step 3: the tv term is nan; lower optimizer.lr")

    monkeypatch.setattr(Inversion, "run", diverges)
    code = runner.main([*TINY, "method.iterations=2"], tmp_path / "run")
    assert code == 2 and "step 3" in capsys.readouterr().err
    record = read_record(tmp_path / "run")
    assert record.status == "failed" and "step 3" in record.error
    assert "step 3" in (tmp_path / "run" / "error.txt").read_text()


def test_a_signal_between_sweep_jobs_stops_the_next_job_before_it_starts(tmp_path):
    """During a sweep a signal outside a job is only recorded; the next job stops at once."""
    from tests.conftest import compose

    cfg = compose(*TINY, "method.iterations=2")
    previous = {s: signal.getsignal(s) for s in interrupts.SIGNALS}
    try:
        (tmp_path / "run").mkdir()  # Hydra creates a job's folder before the job starts
        interrupts.defer_for_process()
        os.kill(os.getpid(), signal.SIGINT)  # arrives "between jobs": recorded, not raised
        time.sleep(0.1)
        with pytest.raises(runner.RunInterrupted):
            runner.run(cfg, tmp_path / "run")
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        interrupts.clear()
    assert read_record(tmp_path / "run").status == "interrupted"
    assert not (tmp_path / "run" / "metrics.json").exists()  # nothing was computed


def test_job_id_is_stable_and_ignores_the_resume_flag():
    from tests.conftest import compose
    from vizlab.jobs import job_id

    a = job_id(compose(*TINY, "method.C=20"))
    assert a == job_id(compose(*TINY, "method.C=20", "sweep.resume=true"))
    assert a != job_id(compose(*TINY, "method.C=300"))


def test_complete_jobs_are_found_by_id(tmp_path):
    job = tmp_path / "0_a"
    JobRecord("abc", status="complete").write(job)
    assert find_complete(tmp_path, "abc") is None  # no metrics yet: not complete
    (job / "metrics.json").write_text("{}")
    assert find_complete(tmp_path, "abc") == job and find_complete(tmp_path, "xyz") is None


# ----- child processes: signals mid-run, sweeps -----------------------------------------------
def _env() -> dict[str, str]:
    return dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true", HYDRA_FULL_ERROR="0")


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "run.py"), *args],
        cwd=cwd,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(condition, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"exited early ({proc.returncode}): {proc.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("timed out waiting for the run")
        time.sleep(0.2)


def _started_optimizing(run_dir: Path):
    """True once the run has a job record and its log shows the model loaded."""
    return lambda: (run_dir / "job.json").is_file()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_run_writes_what_exists_and_exits_with_one_line(sig, tmp_path):
    run_dir = tmp_path / "run"
    proc = _start([*TINY, "method.iterations=100000", f"hydra.run.dir={run_dir}"], cwd=tmp_path)
    _wait_for(_started_optimizing(run_dir), proc)
    time.sleep(6)  # the model loads and the optimization starts
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("vizlab")] == [
        f"vizlab: interrupted; what was computed is in {run_dir}."
    ]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["interrupted"] is True
    assert (run_dir / "config.yaml").is_file()
    assert read_record(run_dir).status == "interrupted"
    if "steps_done" in metrics:  # the engine stopped mid-optimization: its image is kept
        assert (run_dir / "preimage.png").is_file()


SWEEP = [
    *TINY,
    "method.iterations=30",
    "method.finetune_iterations=0",
    "target.layer=blocks.1,blocks.2,blocks.3",
    "method.C=20,300",
]


def _complete_jobs(sweep: Path) -> list[Path]:
    return [
        f.parent for f in sweep.glob("*/job.json") if read_record(f.parent).status == "complete"
    ]


def test_interrupted_sweep_keeps_jobs_and_resumes_only_the_missing_ones(tmp_path):
    sweep = tmp_path / "sweep"
    proc = _start(["-m", *SWEEP, f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    _wait_for(lambda: len(_complete_jobs(sweep)) >= 2, proc, timeout=600)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "sweep.resume=true" in err
    done = {p.name: (p / "metrics.json").stat().st_mtime_ns for p in _complete_jobs(sweep)}
    assert 2 <= len(done) < 6
    rows = json.loads((sweep / "sweep_summary.json").read_text())
    assert {r["job"] for r in rows if r["status"] == "complete"} == set(done)

    proc = _start(["-m", *SWEEP, f"hydra.sweep.dir={sweep}", "sweep.resume=true"], cwd=tmp_path)
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-3000:]
    assert out.count("[vizlab] skipped: job already complete") == len(done)
    for name, mtime in done.items():  # finished jobs were not run again
        assert (sweep / name / "metrics.json").stat().st_mtime_ns == mtime
    rows = json.loads((sweep / "sweep_summary.json").read_text())
    assert len(rows) == 6 and {r["status"] for r in rows} == {"complete"}
    assert sorted((r["layer"], r["C"]) for r in rows) == sorted(
        (f"blocks.{b}", c) for b in (1, 2, 3) for c in (20.0, 300.0)
    )


def test_a_failing_job_does_not_stop_the_sweep(tmp_path):
    sweep = tmp_path / "sweep"
    proc = _start(
        [
            "-m",
            *TINY,
            "method.iterations=2",
            "method.finetune_iterations=0",
            "data.image=chelsea,/no/such/photo.png,coffee",
            f"hydra.sweep.dir={sweep}",
        ],
        cwd=tmp_path,
    )
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 1, err
    assert "Traceback" not in err and "1 of 3 jobs failed" in err
    rows = {
        r["job"].split("_")[0]: r for r in json.loads((sweep / "sweep_summary.json").read_text())
    }
    assert rows["0"]["status"] == rows["2"]["status"] == "complete"
    assert rows["1"]["status"] == "failed" and "/no/such/photo.png" in rows["1"]["error"]
    # the path did not nest the job folder: every job folder is one level below the sweep
    assert sorted(
        p.name.split("_")[0] for p in sweep.iterdir() if p.is_dir() and (p / "job.json").exists()
    ) == ["0", "1", "2"]
