"""What a report shows of each job: its folder, the overrides that made it, its metrics, its
images, and which keys the sweep varied. Read from the files a run leaves (``metrics.json``,
``.hydra/overrides.yaml``, ``config.yaml``, ``*.png``), so a report can be rebuilt any time."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

IMAGE_PRIORITY = (
    "comparison",
    "visualization",
    "grid_labelled",
    "comparison_labelled",
    "adversarial_labelled",
    "grid",
    "dream",
    "texture",
    "stylized",
    "filters_labelled",
    "overlay",
    "maps",
)
"""Image names (without ``.png``) preferred as a job's thumbnail, in this order."""

KEY_METRICS = (
    "reconstruction_error",
    "classification_consistency",
    "naturalness_hist_intersection",
    "activation_relative_to_max",
    "achieved_activation",
    "target_probability",
    "target_prob_mean",
    "inner_product_ratio",
    "success_rate",
    "linf_mean",
    "l2_mean",
    "final_energy",
    "label_agreement",
    "gram_similarity",
    "objective",
    "loss",
)
"""Metrics shown first in the index table and plotted against the swept keys, when present."""

HOUSEKEEPING = ("torch_threads", "seconds", "ms_per", "time", "device", "precision", "seed")
"""Substrings of metric names that describe how a job ran rather than what it found."""

ERROR_FILES = ("error.txt", "error.json", "failure.txt", "traceback.txt")


@dataclass
class Job:
    """One run folder as the report sees it."""

    folder: Path
    overrides: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    images: list[Path] = field(default_factory=list)
    error: str | None = None

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def status(self) -> str:
        if self.error and self.metrics.get("interrupted"):
            return "interrupted"
        if self.metrics and not self.error:
            return "interrupted" if self.metrics.get("interrupted") else "ok"
        return "failed" if self.error else "missing"

    @property
    def thumbnail(self) -> Path | None:
        by_stem = {p.stem: p for p in self.images}
        for stem in IMAGE_PRIORITY:
            if stem in by_stem:
                return by_stem[stem]
        return self.images[0] if self.images else None

    def scalars(self) -> dict[str, Any]:
        return {k: v for k, v in self.metrics.items() if is_scalar(v)}


def is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def is_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _read_overrides(folder: Path) -> dict[str, str]:
    path = folder / ".hydra" / "overrides.yaml"
    try:
        items = yaml.safe_load(path.read_text()) or []
    except (OSError, yaml.YAMLError):
        items = _read_record(folder).get("overrides") or []
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        if sep:
            out[key.lstrip("+~")] = value
    return out


def _read_record(folder: Path) -> dict[str, Any]:
    """The run's ``job.json`` (id, status, overrides, error), or empty."""
    try:
        data = json.loads((folder / "job.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _read_error(folder: Path) -> str | None:
    record = _read_record(folder)
    if record.get("status") in ("failed", "interrupted") and record.get("error"):
        return str(record["error"]).strip().splitlines()[-1]
    for name in ERROR_FILES:
        path = folder / name
        if path.is_file():
            text = path.read_text(errors="replace").strip()
            return text.splitlines()[-1] if text else name
    return None


def read_job(folder: Path) -> Job:
    """The :class:`Job` of a run folder (missing files leave their part empty)."""
    metrics_file = folder / "metrics.json"
    metrics: dict[str, Any] = {}
    if metrics_file.is_file():
        try:
            metrics = json.loads(metrics_file.read_text())
        except json.JSONDecodeError:
            metrics = {}
    images = sorted(p for p in folder.glob("*.png") if p.is_file())
    return Job(folder, _read_overrides(folder), metrics, images, _read_error(folder))


def is_job_folder(folder: Path) -> bool:
    return folder.is_dir() and any(
        (folder / name).is_file() for name in ("metrics.json", "job.json", ".hydra/overrides.yaml")
    )


def find_jobs(root: Path) -> list[Job]:
    """The jobs of a sweep folder (its job sub-folders, by job number) or, when ``root`` is
    itself a run folder, that one run."""
    if (root / "metrics.json").is_file():
        return [read_job(root)]
    folders = [p for p in root.iterdir() if is_job_folder(p)]

    def order(path: Path) -> tuple[int, str]:
        head = path.name.split("_", 1)[0]
        return (int(head) if head.isdigit() else 1 << 30, path.name)

    return [read_job(p) for p in sorted(folders, key=order)]


def swept_keys(jobs: list[Job]) -> list[str]:
    """Override keys whose value differs between jobs, in command-line order (a one-job
    report shows all its overrides)."""
    keys: list[str] = []
    for job in jobs:
        for key in job.overrides:
            if key not in keys and not key.startswith("hydra"):
                keys.append(key)
    if len(jobs) <= 1:
        return keys
    return [k for k in keys if len({job.overrides.get(k) for job in jobs}) > 1]


def key_metrics(jobs: list[Job], limit: int = 8) -> list[str]:
    """Numeric metrics worth a column: the known ones first, then others that vary between
    jobs; how a job ran (threads, timings) is left to the job pages."""
    numeric = {k for job in jobs for k, v in job.metrics.items() if is_number(v)}
    chosen = [k for k in KEY_METRICS if k in numeric]
    rest = sorted(
        k
        for k in numeric - set(chosen)
        if not any(h in k for h in HOUSEKEEPING)
        and not k.endswith(("_ci95", "_std_inits"))
        and len({job.metrics.get(k) for job in jobs}) > 1
    )
    return (chosen + rest)[:limit]


def sort_value(text: str) -> float | str:
    """Numbers sort as numbers, everything else as text (used for grid axes)."""
    try:
        return float(text)
    except ValueError:
        return text
