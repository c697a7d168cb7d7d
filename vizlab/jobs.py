"""The record of one run in its folder (``job.json``): a stable id, its overrides and status.

The id is a hash of the resolved config (``sweep.resume`` aside), so the same job of a
rerun sweep has the same id: a resumed sweep skips jobs whose record says ``complete`` for that
id, and the id can name the job elsewhere (e.g. as a W&B run id). The status is one of
``running``, ``complete``, ``failed`` (with the error) and ``interrupted``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

JOB_FILE = "job.json"
METRICS_FILE = "metrics.json"
STATUSES = ("running", "complete", "failed", "interrupted")
VOLATILE_KEYS = ("sweep",)
"""Top-level keys that do not change what a job computes (left out of its id)."""


def job_id(cfg: DictConfig) -> str:
    """16 hex digits identifying what ``cfg`` computes (resolved, ``sweep.*`` left out)."""
    data = OmegaConf.to_container(cfg, resolve=True)
    for key in VOLATILE_KEYS:
        data.pop(key, None)
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


@dataclass
class JobRecord:
    """What ``job.json`` holds."""

    id: str
    status: str = "running"
    overrides: list[str] = field(default_factory=list)
    error: str | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None

    def write(self, run_dir: Path) -> Path:
        """Write atomically (a reader never sees half a file)."""
        run_dir.mkdir(parents=True, exist_ok=True)
        path = run_dir / JOB_FILE
        tmp = path.with_name(f".{JOB_FILE}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        os.replace(tmp, path)
        return path

    def finish(self, run_dir: Path, status: str, error: str | None = None) -> Path:
        self.status, self.error, self.finished = status, error, time.time()
        return self.write(run_dir)


def read_record(run_dir: Path) -> JobRecord | None:
    """The job record of ``run_dir``, or None when there is none (or it is unreadable)."""
    try:
        data: dict[str, Any] = json.loads((Path(run_dir) / JOB_FILE).read_text())
        return JobRecord(**{k: v for k, v in data.items() if k in JobRecord.__dataclass_fields__})
    except (OSError, ValueError, TypeError):
        return None


def is_complete(run_dir: Path, jid: str | None = None) -> bool:
    """Whether ``run_dir`` holds a complete job (of id ``jid`` if given) with its metrics."""
    record = read_record(run_dir)
    return (
        record is not None
        and record.status == "complete"
        and (jid is None or record.id == jid)
        and (Path(run_dir) / METRICS_FILE).is_file()
    )


def find_complete(sweep_dir: Path, jid: str) -> Path | None:
    """The job folder of ``sweep_dir`` that completed the job ``jid``, if any."""
    for record_file in sorted(Path(sweep_dir).glob(f"*/{JOB_FILE}")):
        if is_complete(record_file.parent, jid):
            return record_file.parent
    return None
