"""W&B the way its users expect, checked against the offline run files: per-step curves as
history, a one-row job table per job, a summary run with the full table at the end of a sweep,
W&B's environment variables respected, online mode that falls back to offline instead of
blocking, and reruns of a job continuing the same W&B run."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from tests.test_end_to_end import run_py
from vizlab.loggers.wandb_logger import (
    TABLE_KEY,
    WandbLogger,
    resolve_mode,
    resolve_project,
    server_reachable,
    stable_run_id,
)
from vizlab.loggers.wandb_offline import (
    find_run_files,
    read_offline_run,
    read_table,
    wait_for_run_file,
)
from vizlab.methods.base import Result

UNROUTABLE = "http://192.0.2.1:81"  # TEST-NET-1: never routed (refused or timed out)
CLOSED = "http://127.0.0.1:9"  # the discard port, closed here: refused at once


@pytest.fixture(autouse=True)
def _clean_wandb_env(monkeypatch, tmp_path):
    for key in ("WANDB_MODE", "WANDB_PROJECT", "WANDB_API_KEY", "WANDB_BASE_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))  # no saved login


def fake_result(steps: int = 5) -> Result:
    rng = np.random.default_rng(0)
    return Result(
        images={"comparison": rng.random((16, 32, 3)), "preimage": rng.random((16, 16, 3))},
        metrics={"reconstruction_error": 42.5, "layer": "blocks.1", "top5": ["a", "b"]},
        history={
            "energy": [10.0 - i for i in range(steps)],
            "data": [1.0 / (i + 1) for i in range(steps)],
        },
    )


def log_one(run_dir: Path, result: Result | None = None, **kwargs) -> Path | None:
    """Log a fake result into ``run_dir``; its W&B group (part of the run id) is the folder's
    name, so no two tests share a run."""
    logger = WandbLogger(run_dir, group=run_dir.name, name="job-0", **kwargs)
    logger.start({"method": {"name": "inversion", "C": 100}, "model": {"name": "tiny"}})
    logger.log_result(result or fake_result())
    logger.finish()
    runs = find_run_files(run_dir)
    return wait_for_run_file(runs[-1]) if runs else None


def test_curves_are_history_and_the_job_table_has_one_row(tmp_path):
    run_file = log_one(tmp_path, overrides=["method.C=100", "target.layer=blocks.1"])
    logged = read_offline_run(run_file)
    history = logged["history"]
    assert history["curves/energy"] == [10.0, 9.0, 8.0, 7.0, 6.0]
    assert history["curves/data"] == pytest.approx([1, 1 / 2, 1 / 3, 1 / 4, 1 / 5])
    assert history["_step"] == [0, 1, 2, 3, 4, 5]  # the curves, then the final record
    assert history["reconstruction_error"] == [42.5]
    assert "images/comparison/path" in history
    assert logged["summary"]["top5"] == ["a", "b"]
    assert logged["config"]["method"] == {"name": "inversion", "C": 100}
    table = read_table(run_file, TABLE_KEY)
    assert len(table["data"]) == 1
    row = dict(zip(table["columns"], table["data"][0]))
    assert row["job"] == "job-0" and row["method.C"] == "100"
    assert row["target.layer"] == "blocks.1" and row["reconstruction_error"] == 42.5
    assert row["layer"] == "blocks.1" and len(set(table["columns"])) == len(table["columns"])
    assert row["comparison"]["_type"] == "image-file"
    assert Path(table["files"][row["comparison"]["path"]]).is_file()  # staged for wandb sync


def test_a_finished_run_is_not_kept_alive_by_the_artifact_of_its_table(tmp_path):
    import gc
    import weakref

    from vizlab.loggers.wandb_logger import _artifact_cache

    cache = _artifact_cache()
    assert cache is not None  # this W&B keeps one: the test would pass vacuously otherwise
    before = set(cache)
    runs = []
    for job in ("job-0", "job-1"):  # W&B's module functions (wandb.alert, ...) hold the last
        logger = WandbLogger(tmp_path / job, group=tmp_path.name, name=job)
        logger.start({"method": {"name": "inversion"}})
        logger.log_result(fake_result())
        assert set(cache) - before  # the table's artifact, while the run is open
        runs.append(weakref.ref(logger.run))
        logger.finish()
        assert set(cache) == before
    gc.collect()
    assert runs[0]() is None  # the first job's run, table and history are freed
    for job in ("job-0", "job-1"):
        table = read_table(wait_for_run_file(find_run_files(tmp_path / job)[-1]), TABLE_KEY)
        assert len(table["data"]) == 1  # and written all the same


def test_environment_is_respected_unless_the_config_says_otherwise(tmp_path, monkeypatch):
    assert resolve_mode(None) == "offline" and resolve_project(None) == "vizlab"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("WANDB_PROJECT", "from-env")
    assert resolve_mode(None) == "disabled" and resolve_mode("offline") == "offline"
    assert resolve_project(None) == "from-env" and resolve_project("mine") == "mine"
    assert log_one(tmp_path / "off") is None
    assert not (tmp_path / "off" / "wandb").exists()  # disabled: nothing written
    run_file = log_one(tmp_path / "explicit", mode="offline")
    assert read_offline_run(run_file)["project"] == "from-env"
    run_file = log_one(tmp_path / "named", mode="offline", project="mine")
    assert read_offline_run(run_file)["project"] == "mine"


def test_a_bad_mode_is_an_error_the_runner_isolates():
    with pytest.raises(ValueError, match="not_a_mode"):
        resolve_mode("not_a_mode")


def test_unreachable_servers_are_detected_within_the_probe_bound():
    assert not server_reachable(CLOSED, timeout=1.0)
    assert not server_reachable(UNROUTABLE, timeout=1.0)


@pytest.fixture
def rejecting_server():
    """A local HTTP server that answers every request with 401 (a revoked or wrong key)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Reject(BaseHTTPRequestHandler):
        def _reject(self):
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"errors": [{"message": "invalid api key"}]}')

        do_GET = do_POST = _reject

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Reject)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize(
    ("server", "key", "reason"),
    [
        (UNROUTABLE, "k" * 40, "did not answer"),
        (CLOSED, None, "no API key"),
        ("rejecting", "k" * 40, "start failed"),
    ],
)
def test_online_without_a_server_or_key_logs_offline(
    tmp_path, monkeypatch, caplog, request, server, key, reason
):
    if server == "rejecting":
        server = request.getfixturevalue("rejecting_server")
    monkeypatch.setenv("WANDB_BASE_URL", server)
    if key:
        monkeypatch.setenv("WANDB_API_KEY", key)
    with caplog.at_level(logging.WARNING, logger="vizlab.loggers.wandb_logger"):
        run_file = log_one(tmp_path, mode="online")
    assert run_file is not None and "offline-run-" in run_file.parent.name
    assert read_offline_run(run_file)["history"]["reconstruction_error"] == [42.5]
    (warning,) = [r.getMessage() for r in caplog.records]
    assert reason in warning and "offline" in warning


def test_a_rerun_job_continues_the_same_run(tmp_path):
    (tmp_path / "job.json").write_text(json.dumps({"id": "abc123", "status": "running"}))
    first = log_one(tmp_path)
    second = log_one(tmp_path)
    first = find_run_files(tmp_path)[0]
    assert first != second  # two offline segments ...
    ids = {read_offline_run(f)["id"] for f in (first, second)}
    assert len(ids) == 1  # ... of one W&B run
    assert ids == {stable_run_id(tmp_path, {}, tmp_path.name)}
    assert stable_run_id(tmp_path, {}, "other-sweep") not in ids


def test_run_id_without_a_job_record_hashes_the_config(tmp_path):
    a = stable_run_id(tmp_path, {"method": {"C": 1}}, "g")
    assert a == stable_run_id(tmp_path, {"method": {"C": 1}, "sweep": {"resume": True}}, "g")
    assert a != stable_run_id(tmp_path, {"method": {"C": 2}}, "g")


def test_a_sweep_logs_job_tables_and_a_summary_run(tmp_path):
    """End to end: a 2-job sweep on the tiny model with W&B offline."""
    sweep_dir = tmp_path / "sweep"
    run_py(
        "-m",
        "model=tiny_cnn",
        "data.size=32",
        "target.layer=blocks.1",
        "method.C=300,20",
        "method.iterations=3",
        "method.finetune_iterations=1",
        f"hydra.sweep.dir={sweep_dir}",
    )
    jobs = sorted(p for p in sweep_dir.iterdir() if (p / "metrics.json").is_file())
    assert len(jobs) == 2
    for job in jobs:
        (run_file,) = find_run_files(job)
        logged = read_offline_run(run_file)
        assert logged["group"] == sweep_dir.name
        assert len(logged["history"]["curves/energy"]) == 4  # 3 steps + 1 fine-tuning step
        table = read_table(run_file, TABLE_KEY)
        assert len(set(table["columns"])) == len(table["columns"])
        row = dict(zip(table["columns"], table["data"][0]))
        assert row["method.C"] in ("300", "20") and "reconstruction_error" in row
    (summary_file,) = find_run_files(sweep_dir)
    summary = read_offline_run(summary_file)
    assert summary["group"] == sweep_dir.name and summary["job_type"] == "sweep_summary"
    table = read_table(summary_file, "sweep_table")
    assert len(table["data"]) == 2
    by_job = {row[0]: dict(zip(table["columns"], row)) for row in table["data"]}
    assert sorted(r["method.C"] for r in by_job.values()) == ["20", "300"]
    assert all(r["status"] == "ok" for r in by_job.values())
    assert any(key.startswith("plots/by_method.C") for key in summary["history"])


def test_images_and_figures_are_sent_as_the_local_pngs(tmp_path):
    """With the local logger's files, W&B logs those PNGs (no second encoding or drawing);
    a figure without a file is drawn without pyplot."""
    import hashlib

    from matplotlib.figure import Figure

    from vizlab.loggers import LocalLogger
    from vizlab.plotting import curves

    result = fake_result()
    result.figures = {"energy": curves(result.history)}
    local = LocalLogger(tmp_path)
    local.log_result(result)
    run_file = log_one(tmp_path, result, saved=local.written)
    history = read_offline_run(run_file)["history"]
    for key, file in (("images/comparison", "comparison.png"), ("figures/energy", "energy.png")):
        expected = hashlib.sha256((tmp_path / file).read_bytes()).hexdigest()
        assert history[f"{key}/sha256"] == [expected]
    fig = Figure(figsize=(2, 2))
    fig.subplots().plot([0, 1])
    unsaved = tmp_path / "unsaved"
    history = read_offline_run(log_one(unsaved, Result(figures={"plot": fig})))["history"]
    assert history["figures/plot/_type"] == ["image-file"]


def test_the_installed_packages_are_recorded_by_the_first_run_of_a_process(tmp_path, monkeypatch):
    """Listing every installed distribution costs ~0.3 s per run; a sweep's jobs share one
    environment, so the process's first run keeps W&B's requirements.txt and later ones skip it."""
    import vizlab.loggers.wandb_logger as wandb_logger

    monkeypatch.setattr(wandb_logger, "_packages_recorded", False)
    first = log_one(tmp_path / "first", mode="offline")
    second = log_one(tmp_path / "second", mode="offline")
    assert any(first.parent.rglob("requirements.txt"))
    assert not any(second.parent.rglob("requirements.txt"))
