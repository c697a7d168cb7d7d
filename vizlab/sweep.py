"""Sweep summary: when a Hydra multirun ends, collect every job's ``metrics.json`` into
``sweep_summary.csv``/``.json`` and plot reconstruction error against layer depth, one line per
C, with 95% intervals (the form of Mahendran & Vedaldi's Fig. 6, left); a sweep over models at
one layer (Table 2: HOG, HOGb, DSIFT) is plotted against the model instead.

Every job folder of the sweep is one row, with its ``status`` (complete, failed with its
error, interrupted, or running when it never finished); an interrupted sweep writes the summary
of the jobs it finished, and ``sweep.resume=true`` on the same command runs only the others.
"""

from __future__ import annotations

import csv
import gc
import json
import logging
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from vizlab import interrupts
from vizlab import rundirs as _rundirs  # noqa: F401 - registers the sweep-folder resolvers
from vizlab.config_reuse import forget_compositions, reuse_compositions
from vizlab.jobs import JOB_FILE, METRICS_FILE, read_record
from vizlab.sweep_compose import forget_checked_configs, reuse_checked_configs

log = logging.getLogger(__name__)


def collect(sweep_dir: Path) -> list[dict[str, Any]]:
    """One row per job folder: its name, status, job id, error (if it failed) and metrics."""
    rows = []
    folders = {f.parent for f in sweep_dir.glob(f"*/{METRICS_FILE}")}
    folders |= {f.parent for f in sweep_dir.glob(f"*/{JOB_FILE}")}
    for folder in sorted(folders, key=_job_order):
        row: dict[str, Any] = {"job": folder.name}
        record = read_record(folder)
        try:
            metrics = json.loads((folder / METRICS_FILE).read_text())
        except (OSError, ValueError):
            metrics = {}
        if record is not None:
            row["status"] = record.status
            row["job_id"] = record.id
            if record.error:
                row["error"] = record.error
        else:  # a job folder written before job records existed
            row["status"] = "interrupted" if metrics.get("interrupted") else "complete"
        row.update(metrics)
        rows.append(row)
    return rows


def _job_order(folder: Path) -> tuple[int, str]:
    num = folder.name.split("_", 1)[0]
    return (int(num) if num.isdigit() else 1 << 30, folder.name)


def write_summary(sweep_dir: Path) -> list[Path]:
    """Write the CSV, JSON and (for inversion sweeps) the error-vs-layer plot."""
    rows = collect(sweep_dir)
    if not rows:
        return []
    written = []
    json_path = sweep_dir / "sweep_summary.json"
    json_path.write_text(json.dumps(rows, indent=2))
    written.append(json_path)
    scalar_keys = sorted(
        {k for r in rows for k, v in r.items() if isinstance(v, (int, float, str, bool))}
    )
    csv_path = sweep_dir / "sweep_summary.csv"
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=scalar_keys, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    written.append(csv_path)
    plotted = [r for r in rows if r.get("reconstruction_error") is not None]
    if plotted:
        written += _plot_fig6(plotted, sweep_dir)
    return written


def _plot_fig6(rows: list[dict[str, Any]], sweep_dir: Path) -> list[Path]:
    from matplotlib.figure import Figure

    layers = {r["layer"]: r.get("layer_depth", 0) for r in rows if "layer" in r}
    models = sorted({str(r.get("model", "")) for r in rows})
    # x: the layers (Fig. 6); a one-layer sweep over models (Table 2) puts the models there
    by_model_x = len(layers) <= 1 and len(models) > 1
    order = models if by_model_x else sorted(layers, key=layers.get)
    x_of = (lambda r: str(r.get("model", ""))) if by_model_x else (lambda r: r["layer"])
    panels = [
        ("reconstruction_error", "reconstruction error (%)"),
        ("reconstruction_error_std_inits", "std over initializations (%)"),
        ("classification_consistency", "classification consistency"),
    ]
    several_inits = any(int(r.get("num_inits", 1) or 1) > 1 for r in rows)
    panels = [
        p
        for p in panels
        if any(p[0] in r for r in rows) and (several_inits or p[0] != panels[1][0])
    ]
    fig = Figure(figsize=(5 * len(panels), 3.8))
    axes = fig.subplots(1, len(panels), squeeze=False)
    lines: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:  # one line per C (and per model when several models share the layer axis)
        model = "" if by_model_x or len(models) == 1 else str(r.get("model", ""))
        lines[(model, r.get("C", 0.0))].append(r)
    for ax, (key, label) in zip(axes[0], panels):
        for (model, c), group in sorted(lines.items()):
            pts = sorted(
                (order.index(x_of(r)), r.get(key), r.get(f"{key}_ci95", 0.0) or 0.0)
                for r in group
                if r.get(key) is not None
            )
            if pts:
                xs, ys, es = zip(*pts)
                name = f"{model} C={c:g}" if model else f"C={c:g}"
                ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=name)
        ax.set_xticks(range(len(order)), order, rotation=45, ha="right", fontsize=8)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axis = "model" if by_model_x else "layer"
    fig.suptitle(f"Inversion quality by {axis} ({sweep_dir.name})", fontsize=10)
    fig.tight_layout()
    path = sweep_dir / "reconstruction_error_by_layer.png"
    fig.savefig(path, dpi=110)
    return [path]


def _call_optional(module: str, name: str, *args: Any) -> None:
    """Call ``module.name(*args)`` if it exists; a failure is a warning, never lost results."""
    import importlib

    try:
        function = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        log.debug("%s.%s unavailable: %s", module, name, err)
        return
    try:
        function(*args)
    except Exception as err:  # noqa: BLE001 - a report never costs the sweep its results
        log.warning(
            "%s.%s failed (%s: %s); the sweep's results are kept.",
            module,
            name,
            type(err).__name__,
            err,
        )
        print(f"[vizlab] warning: {name} failed ({type(err).__name__}: {err})", flush=True)


def finish_sweep(
    sweep_dir: Path, cfg: DictConfig | None = None, interrupted: bool = False
) -> list[dict[str, Any]]:
    """Write the summary (and the report, and the W&B summary when ``cfg`` is given) of what
    the sweep holds now; returns its rows. Signals wait until the files are written."""
    with interrupts.deferred():
        written = write_summary(sweep_dir)
        if written:
            print(f"[vizlab] sweep summary: {', '.join(str(p) for p in written)}", flush=True)
        _call_optional("vizlab.report", "write_sweep_report", sweep_dir)
        if cfg is not None and not interrupted:
            _call_optional("vizlab.loggers.wandb_summary", "log_sweep_summary", sweep_dir, cfg)
        return collect(sweep_dir)


_first_job_done = {"frozen": False}


def freeze_after_first_job() -> bool:
    """After the first sweep job of a process, collect the garbage once and freeze what
    survives (``gc.freeze``: imported modules, the cached model, caches), so the cyclic
    collector's full passes during later jobs walk only what those jobs create: with half a
    million objects alive after the first job, each full pass took ~0.4 s here, about one per
    ten jobs. Later jobs' garbage is collected as before. Whether it froze now."""
    if _first_job_done["frozen"]:
        return False
    _first_job_done["frozen"] = True
    gc.collect()
    gc.freeze()
    return True


def _single_run(config: DictConfig | None) -> bool:
    """Whether a job's config (with its ``hydra`` node) is that of a single run."""
    if config is None:
        return False
    from hydra.types import RunMode

    return OmegaConf.select(config, "hydra.mode", default=None) == RunMode.RUN


class SweepSummary(Callback):
    """Hydra callback (see conf/config.yaml: hydra.callbacks): signals between jobs stop the
    sweep cleanly; at the end, the summary lists every job, failed ones with their error, and
    the command exits non-zero when a job failed."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        interrupts.clear()
        interrupts.defer_for_process()
        reuse_checked_configs()
        forget_compositions()  # nothing kept from an earlier sweep of this process
        reuse_compositions()

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if not _single_run(config):  # a single run's process exits next: nothing to gain
            freeze_after_first_job()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        forget_checked_configs()
        forget_compositions()
        sweep_dir = Path(config.hydra.sweep.dir)
        stopped = interrupts.stop_requested()
        rows = finish_sweep(sweep_dir, config, interrupted=stopped)
        if stopped:
            print(
                f"vizlab: interrupted; finished jobs are kept in {sweep_dir}; run the same "
                "command with sweep.resume=true to run only the missing and failed jobs.",
                file=sys.stderr,
                flush=True,
            )
            raise SystemExit(130)
        failed = [r for r in rows if r.get("status") == "failed"]
        if failed:
            lines = [f"  {r['job']}: {r.get('error', '?')}" for r in failed]
            print(
                f"vizlab: {len(failed)} of {len(rows)} jobs failed (listed in "
                f"{sweep_dir / 'sweep_summary.json'}):\n" + "\n".join(lines),
                file=sys.stderr,
                flush=True,
            )
            raise SystemExit(1)
