"""At the end of a sweep, one more W&B run in the sweep's group: the full table of jobs (swept
keys, status, scalar metrics, main image) and the summary plots (each key metric against each
swept key, plus the sweep's own summary figures), read back from the job folders."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from vizlab.loggers.wandb_logger import (
    figure_image,
    resolve_mode,
    resolve_project,
    stable_run_id,
    unique_columns,
    usable_mode,
)
from vizlab.report.jobs import Job, find_jobs, is_scalar, key_metrics, swept_keys
from vizlab.report.plots import summary_figures

log = logging.getLogger(__name__)
TABLE_KEY = "sweep_table"


def _wandb_options(cfg: DictConfig | dict | None) -> dict[str, Any]:
    if cfg is None:
        return {}
    data = OmegaConf.to_container(cfg, resolve=False) if isinstance(cfg, DictConfig) else cfg
    logger = (data or {}).get("logger") or {}
    return dict(logger.get("wandb") or {})


def sweep_table(jobs: list[Job], keys: list[str]):
    """One row per job: name, status, swept keys, every scalar metric, the main image."""
    import wandb

    metrics: list[str] = []
    for job in jobs:
        metrics += [k for k, v in job.metrics.items() if is_scalar(v) and k not in metrics]
    columns = unique_columns(["job", "status", *keys], [*metrics, "image"])
    rows = []
    for job in jobs:
        image = wandb.Image(str(job.thumbnail)) if job.thumbnail else None
        rows.append(
            [
                job.name,
                job.status,
                *(job.overrides.get(k) for k in keys),
                *(_cell(job.metrics.get(m)) for m in metrics),
                image,
            ]
        )
    return wandb.Table(columns=columns, data=rows)


def _cell(value: Any) -> Any:
    """Table cells of one column share a type in W&B: numbers stay numbers, the rest text."""
    if value is None or isinstance(value, (int, float)):
        return value
    return str(value)


def log_sweep_summary(sweep_dir: Path, cfg: DictConfig | dict | None = None) -> None:
    """Log the summary run of the sweep in ``sweep_dir`` (a no-op when W&B is off for it)."""
    options = _wandb_options(cfg)
    if cfg is not None and not options.get("enabled", False):
        return
    mode = resolve_mode(options.get("mode"))
    if mode == "disabled":
        return
    sweep_dir = Path(sweep_dir)
    jobs = find_jobs(sweep_dir)
    if not jobs:
        return
    os.environ.setdefault("WANDB_SILENT", "true")
    import wandb

    keys = swept_keys(jobs)
    group = options.get("group") or sweep_dir.name
    run = wandb.init(
        dir=str(sweep_dir),
        mode=usable_mode(mode),
        project=resolve_project(options.get("project")),
        entity=options.get("entity") or None,
        group=group,
        name=f"{group}-summary",
        job_type="sweep_summary",
        id=stable_run_id(sweep_dir, {"summary": group}, group),
        resume="allow",
        reinit="finish_previous",
        config={"sweep_dir": str(sweep_dir), "swept_keys": keys, "jobs": len(jobs)},
        settings=wandb.Settings(console="off", x_disable_stats=True, x_disable_meta=True),
    )
    try:
        payload: dict[str, Any] = {TABLE_KEY: sweep_table(jobs, keys)}
        figures = summary_figures([j for j in jobs if j.metrics], keys, key_metrics(jobs))
        for name, figure in figures.items():
            payload[f"plots/{name}"] = figure_image(figure)
        for path in sorted(sweep_dir.glob("*.png")):
            payload[f"plots/{path.stem}"] = wandb.Image(str(path))
        run.log(payload)
        run.summary["jobs"] = len(jobs)
        run.summary["jobs_ok"] = sum(job.status == "ok" for job in jobs)
    finally:
        run.finish()
