"""Run and sweep folders that never collide and never nest.

Registered as OmegaConf resolvers (``conf/config.yaml`` uses them in its ``hydra`` section):

* ``${vizlab.unique_dir:PATH}`` creates ``PATH`` atomically, or ``PATH-2``, ``PATH-3``, ... when
  another run took it first (two runs started in the same second get distinct folders);
* ``${vizlab.sweep_dir:ROOT,NAME,RESUME,OVERRIDES}`` is a fresh unique ``ROOT/NAME`` for a
  sweep, or with ``sweep.resume=true`` the newest earlier sweep folder under ``ROOT`` made by
  the same command (its overrides, ``sweep.resume`` aside, recorded in ``sweep.json``);
* ``${vizlab.job_name:OVERRIDE_DIRNAME}`` is a job folder name that is safe and bounded
  whatever the override values (paths, lists, long strings): one level below the sweep folder.

The resolvers cache their value per config (Hydra copies the cache from the sweep's config into
each job's), so a folder is created once and every later lookup returns the same path.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, ListConfig, OmegaConf

SWEEP_FILE = "sweep.json"
"""Written into every sweep folder: the command's overrides and the key resume matches on."""

JOB_NAME_LIMIT = 80
"""Longest job folder name (file systems allow 255 bytes; a readable prefix and a hash fit)."""

RESUME_KEYS = ("sweep.resume",)
"""Overrides that do not change what a sweep computes (left out of its identity)."""

_UNSAFE = re.compile(r"[^A-Za-z0-9._=,+@-]+")


def unique_dir(path: str) -> str:
    """Create ``path`` (or ``path-2``, ``path-3``, ...) atomically and return the one created:
    ``mkdir`` fails when the folder exists, so two processes can never share one."""
    base = Path(str(path))
    base.parent.mkdir(parents=True, exist_ok=True)
    candidate, n = base, 1
    while True:
        try:
            candidate.mkdir()
            return str(candidate)
        except FileExistsError:
            n += 1
            candidate = base.with_name(f"{base.name}-{n}")


def _override_list(overrides: Any) -> list[str]:
    if isinstance(overrides, ListConfig):
        overrides = OmegaConf.to_container(overrides, resolve=False)
    if isinstance(overrides, str):
        overrides = [overrides] if overrides else []
    return [str(o) for o in overrides or []]


def sweep_key(overrides: Iterable[str]) -> str:
    """The identity of a sweep command: a hash of its overrides, resume flags left out."""
    kept = sorted(o for o in overrides if o.lstrip("+~").split("=", 1)[0] not in RESUME_KEYS)
    return hashlib.sha1("\n".join(kept).encode()).hexdigest()[:16]


def _previous_sweep(root: Path, key: str) -> Path | None:
    """The newest sweep folder under ``root`` whose ``sweep.json`` has ``key``."""
    found = []
    for file in root.glob(f"**/{SWEEP_FILE}"):
        try:
            record = json.loads(file.read_text())
        except (OSError, ValueError):
            continue
        if record.get("key") == key:
            found.append((file.stat().st_mtime, file.parent))
    return max(found)[1] if found else None


def sweep_dir(root: str, name: str, resume: Any, overrides: Any) -> str:
    """A new unique sweep folder ``root/name``, or (``resume``) the newest earlier folder of
    the same sweep command under ``root``; either way it holds ``sweep.json``."""
    overrides = _override_list(overrides)
    key = sweep_key(overrides)
    if str(resume).lower() == "true":
        previous = _previous_sweep(Path(str(root)), key)
        if previous is not None:
            return str(previous)
    folder = Path(unique_dir(str(Path(str(root)) / str(name))))
    record = {"key": key, "overrides": [o for o in overrides if o.split("=")[0] not in RESUME_KEYS]}
    (folder / SWEEP_FILE).write_text(json.dumps(record, indent=2))
    return str(folder)


def job_name(override_dirname: Any) -> str:
    """A job folder name from Hydra's ``override_dirname``: characters other than letters,
    digits and ``._=,+@-`` become ``_`` (slashes of paths never nest folders), and a name over
    :data:`JOB_NAME_LIMIT` characters is cut and ends with a hash of the whole."""
    text = "" if override_dirname is None else str(override_dirname)
    safe = _UNSAFE.sub("_", text).strip("._") or "job"
    if len(safe) <= JOB_NAME_LIMIT:
        return safe
    digest = hashlib.sha1(text.encode()).hexdigest()[:10]
    return f"{safe[: JOB_NAME_LIMIT - 11].rstrip('._')}_{digest}"


class RunFolderCheck(Callback):
    """Hydra callback (conf/config.yaml: hydra.callbacks): create the run or sweep folder
    before Hydra does, so a folder that cannot be written is one message and exit code 2
    instead of Hydra's stack trace."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _create_or_exit(config, "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _create_or_exit(config, "hydra.sweep.dir")


def _create_or_exit(config: DictConfig, key: str) -> None:
    path: Any = "?"
    try:
        path = OmegaConf.select(config, key, throw_on_resolution_failure=True)
        Path(str(path)).mkdir(parents=True, exist_ok=True)
        return
    except Exception as err:  # noqa: BLE001 - OSError, or one wrapped by the resolver
        cause = err
        while cause.__cause__ is not None or cause.__context__ is not None:
            cause = cause.__cause__ or cause.__context__
        reason = getattr(cause, "strerror", None) or str(cause)
        where = getattr(cause, "filename", None) or path
    print(
        f"vizlab error: cannot create the run folder '{where}' ({reason}). Run from a folder "
        f"you can write to (runs go to ./outputs) or choose one with {key}=/path/to/folder.",
        file=sys.stderr,
        flush=True,
    )
    raise SystemExit(2)


def register_resolvers() -> None:
    """Register the resolvers (idempotent; runs when :mod:`vizlab.runner` is imported)."""
    OmegaConf.register_new_resolver("vizlab.unique_dir", unique_dir, use_cache=True, replace=True)
    OmegaConf.register_new_resolver("vizlab.sweep_dir", sweep_dir, use_cache=True, replace=True)
    OmegaConf.register_new_resolver("vizlab.job_name", job_name, replace=True)


register_resolvers()
