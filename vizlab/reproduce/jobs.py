"""Run one experiment config's grid in-process, job by job, with a result cache.

An experiment is a config under ``conf/experiment/``; its grid is the config's own
``hydra.sweeper.params`` (what ``python run.py -m experiment=NAME`` sweeps), parsed with
Hydra's override grammar so both paths run exactly the same jobs. Each job's metrics,
tensors and config are stored under ``<cache>/<experiment>/<job id>/`` so a report can be
rebuilt (``--reuse``) without recomputing hours of CPU work.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from vizlab.errors import VizlabError

RUN_OVERRIDES = ("progress=false", "logger=local")  # report runs: no bars, local files only
NEUTRAL = ("threads", "progress", "logger")  # overrides that leave a job's result unchanged
RECORD = "reproduce.json"  # a cached job's grid point, overrides and wall time


def config_dir() -> Path:
    """The repository's ``conf/`` folder (vizlab.config's when available)."""
    try:
        from vizlab.config import config_dir as shared_config_dir

        return Path(shared_config_dir())
    except ImportError:
        return Path(__file__).resolve().parents[2] / "conf"


def experiment_names() -> list[str]:
    return sorted(p.stem for p in (config_dir() / "experiment").glob("*.yaml"))


@contextmanager
def hydra_context() -> Iterator[None]:
    """Hydra's compose API on vizlab's config folder (re-entrant inside a running Hydra app)."""
    if GlobalHydra.instance().is_initialized():
        yield
        return
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        yield


def compose_config(overrides: Sequence[str], hydra: bool = False) -> DictConfig:
    with hydra_context():
        return compose("config", overrides=list(overrides), return_hydra_config=hydra)


@dataclass
class Grid:
    """The jobs of one experiment: fixed overrides plus the product of the sweep axes."""

    name: str
    fixed: list[str]
    axes: list[tuple[str, list[str]]]

    def jobs(self) -> list[list[tuple[str, str]]]:
        keys = [k for k, _ in self.axes]
        return [list(zip(keys, combo)) for combo in itertools.product(*[v for _, v in self.axes])]

    def overrides(self, point: Sequence[tuple[str, str]]) -> list[str]:
        return [f"experiment={self.name}", *self.fixed, *(f"{k}={v}" for k, v in point)]


def parse_override(override: str):
    return OverridesParser.create().parse_overrides([override])[0]


def sweep_values(override) -> list[str]:
    if override.is_sweep_override():
        return list(override.sweep_string_iterator())
    return [override.get_value_element_as_str()]


def build_grid(name: str, extra: Sequence[str] = ()) -> Grid:
    """The experiment's sweep axes, with ``extra`` overrides applied: a sweep override
    (``a,b``) replaces or adds an axis, a plain one fixes a key. A plain override of a swept
    key stays a one-value axis, so that its value names the job's cache folder: runs of the
    same grid point with ``method.C=100`` and ``method.C=20`` must not overwrite each other."""
    if name not in experiment_names():
        raise VizlabError(
            f"Unknown experiment '{name}'. Experiments are the configs in "
            f"{config_dir() / 'experiment'}: {', '.join(experiment_names())}."
        )
    parsed = [(parse_override(o), o) for o in extra]
    fixed = [o for p, o in parsed if not p.is_sweep_override()]
    cfg = compose_config([f"experiment={name}", *fixed], hydra=True)
    axes: dict[str, list[str]] = {}
    for key, value in (cfg.hydra.sweeper.params or {}).items():
        axes[str(key)] = sweep_values(parse_override(f"{key}={value}"))
    for p, override in parsed:
        key = p.get_key_element()
        if p.is_sweep_override():
            axes[key] = sweep_values(p)
        elif key in axes:
            axes[key] = sweep_values(p)
            fixed.remove(override)
    return Grid(name, fixed, list(axes.items()))


def job_id(point: Sequence[tuple[str, str]]) -> str:
    text = ",".join(sorted(f"{k}={v}" for k, v in point)) or "single"
    return text.replace("/", "_").replace('"', "").replace("'", "")


@dataclass
class Job:
    """One finished job: its grid point, metrics, tensors, wall time and provenance."""

    point: list[tuple[str, str]]
    metrics: dict[str, Any]
    tensors: dict[str, torch.Tensor]
    seconds: float
    reused: bool = False
    overrides: list[str] = field(default_factory=list)
    config: DictConfig | None = None

    def axis(self, key: str) -> str:
        return dict(self.point).get(key, "")


def _save(job: Job, folder: Path, cfg: DictConfig) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    half = {k: v.detach().cpu().to(torch.float16) for k, v in job.tensors.items()}
    torch.save(half, folder / "tensors.pt")
    (folder / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    info = {"point": job.point, "overrides": job.overrides, "wall_seconds": job.seconds}
    (folder / RECORD).write_text(json.dumps(info, indent=1))


def load_cached(folder: Path, point: list[tuple[str, str]]) -> Job | None:
    if not (folder / "tensors.pt").exists() or not (folder / "metrics.json").exists():
        return None
    records = [folder / RECORD, folder / "job.json"]  # job.json: caches written before
    record = next((r for r in records if r.exists()), None)
    info = json.loads(record.read_text()) if record is not None else {}
    metrics = json.loads((folder / "metrics.json").read_text())
    if metrics.get("interrupted"):  # stopped by Ctrl-C / SIGTERM: not a result to reuse
        return None
    tensors = {k: v.float() for k, v in torch.load(folder / "tensors.pt").items()}
    seconds = float(info.get("wall_seconds", 0.0))
    overrides = list(info.get("overrides", [])) + list(info.get("protocol", []))
    config = OmegaConf.load(folder / "config.yaml") if (folder / "config.yaml").exists() else None
    return Job(point, metrics, tensors, seconds, True, overrides, config)  # type: ignore[arg-type]


def cached_run(folder: Path, point: list[tuple[str, str]], overrides: Sequence[str]) -> Job | None:
    """The cached job of ``point`` if it ran with exactly ``overrides``: the folder is named
    by the grid point alone, so a job cached under other ``--set`` values (another size or
    iteration count) is run again rather than mixed into the figure. Caches that recorded
    no overrides are trusted as they are."""
    record = folder / RECORD
    if record.exists():  # compared before the cached tensors are loaded
        saved = json.loads(record.read_text()).get("overrides")
        if saved is not None and _protocol(saved) != _protocol(overrides):
            return None
    return load_cached(folder, point)


def _protocol(overrides: Sequence[str]) -> list[str]:
    """The overrides that change what a job computes (not threads, progress bars, logger)."""
    return sorted(o for o in overrides if o.split("=", 1)[0].lstrip("+~") not in NEUTRAL)


def run_job(grid: Grid, point: list[tuple[str, str]], folder: Path, reuse: bool) -> Job:
    """Run (or, with ``reuse``, load) one grid point through vizlab's runner."""
    overrides = grid.overrides(point) + list(RUN_OVERRIDES)
    if reuse and (cached := cached_run(folder, point, overrides)) is not None:
        return cached
    from vizlab.runner import run  # the runner imports the model zoo: only when running

    cfg = compose_config(overrides)
    start = time.perf_counter()
    result = run(cfg, run_dir=folder)
    job = Job(point, dict(result.metrics), dict(result.tensors), time.perf_counter() - start)
    job.overrides, job.config = overrides, cfg
    _save(job, folder, cfg)
    return job
