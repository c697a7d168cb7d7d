"""Which device a run computes on, which GPU each job of a parallel sweep takes, and the
numeric precision of the model's forward pass."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch
from torch.overrides import TorchFunctionMode

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


FACTORIES = tuple(
    getattr(torch, name)
    for name in (
        "arange", "as_tensor", "asarray", "bartlett_window", "blackman_window", "empty",
        "empty_strided", "eye", "full", "hamming_window", "hann_window", "kaiser_window",
        "linspace", "logspace", "ones", "rand", "randint", "randn", "randperm", "range",
        "scalar_tensor", "tensor", "tril_indices", "triu_indices", "zeros",
    )
    if hasattr(torch, name)
)  # fmt: skip
"""torch functions that make a tensor on the default device unless given ``device=``."""

_TORCH_DIR = str(Path(torch.__file__).parent)


class OnDevice:
    """A constant host tensor, copied to each device and dtype it is asked for once: tensors
    used every optimization step (normalization constants, direction vectors) would otherwise
    be copied host-to-device on every step. Copies are made outside ``torch.inference_mode``,
    so a copy first asked for there can still be saved by autograd later."""

    def __init__(self, tensor: torch.Tensor):
        self.tensor = tensor
        self._copies: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}

    def __call__(self, like: torch.Tensor) -> torch.Tensor:
        """The tensor on ``like``'s device and in its dtype."""
        key = (like.device, like.dtype)
        if key not in self._copies:
            with torch.inference_mode(False):
                self._copies[key] = self.tensor.to(like)
        return self._copies[key]


class MisplacedTensorError(RuntimeError):
    """A tensor was created without an explicit device while placement was being checked."""


class DefaultDeviceGuard(TorchFunctionMode):
    """Flags every tensor made by a factory (``torch.zeros``, ``torch.tensor``, ...) without an
    explicit ``device=`` in code outside torch itself. On a GPU such a tensor lands on the CPU
    while the model is on the GPU -- a device mix (an error) or work on the wrong device (a
    copy per step) -- so a method under this guard on a CPU machine shows what it would do on
    a GPU. ``strict`` raises at the offending line; else the places are collected in
    ``violations`` (``"torch.zeros(...) without device= in path.py:function:line"``).
    Not flagged: factories called by torch's own code (e.g. building an ``nn.Module`` that
    is then moved with ``.to(device)``), and draws from an explicit ``generator=`` (vizlab's
    seeded generators live on the CPU by design, so a seed gives the same start on any
    device; the draw is moved to the model's device once)."""

    def __init__(self, strict: bool = True, allow: Iterable[str] = ()):
        """``allow``: ``"vizlab/path.py:function"`` places whose host-side tensors are meant
        (e.g. a colour lookup table for an image already moved to the host)."""
        super().__init__()
        self.strict = strict
        self.allow = frozenset(allow)
        self.violations: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if (
            func in FACTORIES
            and kwargs.get("device") is None
            and kwargs.get("generator") is None
            and not _from_tensor(func, args)
        ):
            caller = sys._getframe(1)
            code = caller.f_code
            place = f"{_short(code.co_filename)}:{code.co_name}"
            if not code.co_filename.startswith(_TORCH_DIR) and place not in self.allow:
                where = f"{place}:{caller.f_lineno}"
                message = f"torch.{func.__name__}(...) without device= in {where}"
                if self.strict:
                    raise MisplacedTensorError(
                        f"{message}: on a GPU this tensor would be on the CPU, away from the "
                        "model; pass device=<the model's device> (or device='cpu' for host-side "
                        "work that stays there)."
                    )
                if message not in self.violations:
                    self.violations.append(message)
        return func(*args, **kwargs)


def _from_tensor(func, args) -> bool:
    """``torch.as_tensor(t)`` / ``torch.asarray(t)`` of a tensor keep its device."""
    return func in (torch.as_tensor, torch.asarray) and bool(args) and torch.is_tensor(args[0])


def _short(filename: str) -> str:
    """``vizlab/x/y.py`` for files of the package (else the full path)."""
    parts = Path(filename).parts
    return "/".join(parts[parts.index("vizlab") :]) if "vizlab" in parts else filename
