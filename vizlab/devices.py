"""Which device a run computes on, which GPU each job of a parallel sweep takes, and the
numeric precision of the model's forward pass."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from vizlab.errors import VizlabError

PRECISIONS: dict[str, torch.dtype | None] = {
    "fp32": None,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}
"""``precision`` values: ``fp32`` runs as is; the others autocast the model's forward pass."""

SEQUENTIAL_LAUNCHERS = frozenset({"basic"})
"""Hydra launchers that run the jobs of a sweep one after the other in one process: they keep
one GPU (and one loaded model) for all jobs rather than moving between GPUs."""


def hydra_job_slot() -> tuple[int | None, str | None]:
    """``(job number, launcher name)`` of the Hydra multirun job this process runs, or
    ``(None, None)`` outside a multirun (single runs, the Python API, tests)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        hc = HydraConfig.get()
    except Exception:  # noqa: BLE001 - not running under @hydra.main
        return None, None
    if str(hc.mode) != "RunMode.MULTIRUN":
        return None, None
    launcher = hc.runtime.choices.get("hydra/launcher") or "basic"
    return int(hc.job.num), str(launcher)


def gpu_for_job(job_num: int | None, launcher: str | None, count: int) -> int:
    """The GPU index of a job: job *i* of a parallel sweep on GPU *i mod n* (so n workers of
    joblib or submitit-local fill n GPUs instead of piling onto GPU 0); GPU 0 otherwise."""
    if count <= 0:
        raise ValueError("gpu_for_job needs at least one GPU")
    if job_num is None or launcher in SEQUENTIAL_LAUNCHERS:
        return 0
    return job_num % count


def resolve_device(
    name: str | None,
    job_num: int | None = None,
    launcher: str | None = None,
) -> torch.device:
    """The device for ``device=name``: ``auto`` (or empty) is CUDA when available, else CPU;
    ``cuda`` picks a GPU per job in a parallel sweep (see :func:`gpu_for_job`); ``cuda:k`` is
    honoured as given. ``job_num``/``launcher`` default to the running Hydra job's."""
    name = str(name or "auto").strip().lower()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu" or name == "mps":
        return torch.device(name)
    if not name.startswith("cuda"):
        raise VizlabError(
            f"device={name} is not valid; use auto (CUDA when present, else CPU), cpu, cuda "
            "(one GPU per job in a parallel sweep) or cuda:N (that GPU)."
        )
    if not torch.cuda.is_available():
        raise VizlabError(
            f"device={name} was requested but CUDA is not available on this machine. "
            "Use device=auto (CUDA when present, else CPU) or device=cpu."
        )
    count = torch.cuda.device_count()
    if name == "cuda":
        if job_num is None and launcher is None:
            job_num, launcher = hydra_job_slot()
        return torch.device("cuda", gpu_for_job(job_num, launcher, count))
    index = name.removeprefix("cuda:")
    if not index.isdigit() or int(index) >= count:
        raise VizlabError(
            f"device={name} is not a GPU of this machine: it has {count} "
            f"(cuda:0 to cuda:{count - 1}); use cuda:N with N in that range, or cuda to "
            "spread the jobs of a sweep over all of them."
        )
    return torch.device("cuda", int(index))


def resolve_precision(name: str | None) -> str:
    """The checked ``precision`` value (``fp32`` when empty)."""
    name = str(name or "fp32").strip().lower()
    if name not in PRECISIONS:
        raise VizlabError(
            f"precision={name} is not valid; use one of {', '.join(PRECISIONS)} "
            "(bf16/fp16 autocast the model's forward pass, fp32 runs in full precision)."
        )
    return name


@contextlib.contextmanager
def autocast(device: torch.device | str, precision: str | None) -> Iterator[None]:
    """Mixed precision for the block on ``device`` (torch.autocast); nothing for fp32."""
    dtype = PRECISIONS[resolve_precision(precision)]
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=torch.device(device).type, dtype=dtype):
        yield
