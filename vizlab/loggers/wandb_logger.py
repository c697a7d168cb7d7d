"""Weights & Biases logging of one job: the method's per-step curves as W&B history, the final
metrics, images and figures, and a one-row ``job_table`` (the job's overrides, its scalar
metrics and main images) so the runs of a sweep compare side by side in the W&B UI.

W&B never blocks a run: ``online`` first checks (in about two seconds at most) that an API key
is set and the server answers, and falls back to ``offline`` with a one-line warning; W&B's own
environment variables (``WANDB_MODE`` including ``disabled``, ``WANDB_PROJECT``, ...) apply
unless the config sets a value. A job reruns into the same W&B run (its id is a hash of the
sweep and the job's config, ``resume="allow"``)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import socket
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from vizlab.loggers.base import Logger
from vizlab.methods.base import Result

log = logging.getLogger(__name__)

MODES = ("online", "offline", "disabled")
ALIASES = {"dryrun": "offline", "run": "online"}  # older spellings W&B still accepts
DEFAULT_MODE = "offline"
DEFAULT_PROJECT = "vizlab"
PROBE_SECONDS = 2.0
"""Longest wait for the W&B server to accept a connection before going offline."""
INIT_SECONDS = 6.0
"""W&B's own init timeout for online runs: a server that accepts connections but stalls costs
at most this long before the run goes offline (a healthy start takes a second or two)."""
TABLE_KEY = "job_table"
TABLE_IMAGES = 3
"""Images per job in the table (the first ones in the report's order of preference)."""


def resolve_mode(mode: str | None) -> str:
    """The config's value, else ``$WANDB_MODE``, else offline."""
    value = (mode or os.environ.get("WANDB_MODE") or DEFAULT_MODE).strip().lower()
    value = ALIASES.get(value, value)
    if value not in MODES:
        raise ValueError(f"logger.wandb.mode={value!r} is not one of {', '.join(MODES)}")
    return value


def resolve_project(project: str | None) -> str:
    """The config's value, else ``$WANDB_PROJECT``, else vizlab."""
    return project or os.environ.get("WANDB_PROJECT") or DEFAULT_PROJECT


def _base_url() -> str:
    """The W&B server: ``$WANDB_BASE_URL``, else W&B's default."""
    if os.environ.get("WANDB_BASE_URL"):
        return os.environ["WANDB_BASE_URL"]
    try:
        import wandb

        return str(wandb.Settings().base_url)
    except Exception:  # noqa: BLE001 - settings from a broken environment
        return "https://api.wandb.ai"


def server_reachable(url: str | None = None, timeout: float = PROBE_SECONDS) -> bool:
    """Whether the W&B server accepts a TCP connection within ``timeout`` seconds. Name
    resolution is inside the bound too (it runs in a thread: a resolver without network can
    otherwise take tens of seconds)."""
    parsed = urlparse(url or _base_url())
    host = parsed.hostname or ""
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    answer: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                answer.append(True)
        except OSError:
            answer.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(answer and answer[0])


def has_api_key(url: str | None = None) -> bool:
    """An API key in ``$WANDB_API_KEY`` or the netrc entry W&B writes at ``wandb login``."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:  # W&B's own netrc reader (private module: any failure means "unknown", so try)
        from wandb.sdk.lib.wbauth.wbnetrc import read_netrc_auth

        return bool(read_netrc_auth(host=url or _base_url()))
    except Exception:  # noqa: BLE001
        return True


def usable_mode(mode: str) -> str:
    """``online`` only when a key is set and the server answers; else ``offline`` with a
    warning (the run is kept locally; ``wandb sync`` uploads it later)."""
    if mode != "online":
        return mode
    url = _base_url()
    problem = None
    if not has_api_key(url):
        problem = "no API key (run `wandb login` or set WANDB_API_KEY)"
    elif not server_reachable(url):
        problem = f"{url} did not answer within {PROBE_SECONDS:g} s"
    if problem:
        log.warning("W&B online mode: %s; logging offline instead (wandb sync later).", problem)
        return "offline"
    return mode


def stable_run_id(run_dir: Path, config: dict[str, Any], group: str | None) -> str:
    """The W&B run id of a job: the same for a rerun of the same job of the same sweep (or
    run folder), so a resumed job continues its W&B run instead of adding one."""
    job_id = None
    with contextlib.suppress(OSError, ValueError, AttributeError):
        job_id = json.loads((run_dir / "job.json").read_text()).get("id")
    if not job_id:
        data = {k: v for k, v in config.items() if k not in ("sweep", "hydra")}
        job_id = hashlib.sha1(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
    where = group or run_dir.resolve().name
    return hashlib.sha1(f"{where}:{job_id}".encode()).hexdigest()[:16]


def hydra_overrides() -> list[str]:
    """The command-line overrides of the running Hydra job (empty outside Hydra)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return list(HydraConfig.get().overrides.task)
    except Exception:  # noqa: BLE001 - not running under @hydra.main
        return []


def split_overrides(overrides: list[str]) -> dict[str, str]:
    out = {}
    for item in overrides:
        key, sep, value = str(item).partition("=")
        if sep and not key.lstrip("+~").startswith("hydra"):
            out[key.lstrip("+~")] = value
    return out


def _scalars(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float, bool))}


def table_images(names: list[str]) -> list[str]:
    """The images a job shows in a table, most telling first."""
    from vizlab.report.jobs import IMAGE_PRIORITY

    ranked = [n for n in IMAGE_PRIORITY if n in names] + [
        n for n in names if n not in IMAGE_PRIORITY
    ]
    return ranked[:TABLE_IMAGES]


def unique_columns(first: list[str], then: list[str]) -> list[str]:
    """Column names for a W&B table: a later name equal to an earlier one (a metric named like
    an override, e.g. ``model``) becomes ``metrics.<name>``."""
    columns = list(first)
    for name in then:
        columns.append(f"metrics.{name}" if name in columns else name)
    return columns


def figure_image(figure: Any):
    """A ``wandb.Image`` of a matplotlib figure, drawn to PNG here: W&B's own conversion
    uses pyplot, which vizlab's figures (plain ``Figure`` objects) never import."""
    import wandb
    from PIL import Image

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    buffer.seek(0)
    return wandb.Image(Image.open(buffer))


def job_table(
    name: str, overrides: dict[str, str], result: Result, files: dict[str, Path] | None = None
):
    """The one-row ``wandb.Table`` of a job: name, overrides, scalar metrics, main images
    (from their PNG ``files`` where given, instead of encoding the arrays again)."""
    import wandb

    files = files or {}
    scalars = {k: v for k, v in result.metrics.items() if isinstance(v, (int, float, bool, str))}
    images = table_images(list(result.images))
    columns = unique_columns(["job", *overrides], [*scalars, *images])
    row = [
        name,
        *overrides.values(),
        *scalars.values(),
        *(wandb.Image(str(files[n]) if n in files else result.images[n]) for n in images),
    ]
    return wandb.Table(columns=columns, data=[row])


_packages_recorded = False
"""Whether a W&B run of this process has already saved the list of installed packages
(W&B's ``requirements.txt``). Every job of a sweep in one process shares that environment,
and listing it reads every installed distribution's metadata (~0.3 s per run here), so only
the process's first run records it."""


def _record_packages_once() -> None:
    global _packages_recorded
    _packages_recorded = True


def _artifact_cache() -> dict | None:
    """W&B's process-wide cache of the artifacts it has made (keyed by client id), or None
    where this W&B version keeps none there.

    W&B registers every artifact it builds, including the one behind each logged table, in a
    global dict capped at 100 entries "to ensure they won't be immediately garbage collected
    and can be retrieved by their ID" (``wandb.sdk.artifacts.artifact_instance_cache``). Each
    entry holds its table and, through it, the whole finished run (config, summary, history
    callbacks): in a sweep of one process the heap grew by about a thousand objects per job
    until 100 runs were held, and every collector pass walked them."""
    try:
        from wandb.sdk.artifacts import artifact_instance_cache as cache
    except ImportError:
        return None
    found = getattr(cache, "artifact_instance_cache_by_client_id", None)
    return found if isinstance(found, dict) else None


class WandbLogger(Logger):
    name = "wandb"

    def __init__(
        self,
        run_dir: str | Path,
        project: str | None = None,
        mode: str | None = None,
        group: str | None = None,
        name: str | None = None,
        entity: str | None = None,
        tags: list[str] | None = None,
        overrides: list[str] | None = None,
        saved: dict[tuple[str, str], Path] | None = None,
    ):
        self.run_dir = Path(run_dir)
        self.project, self.mode = project, mode
        self.kwargs = dict(group=group, name=name, entity=entity, tags=tags)
        self.overrides = overrides
        self.saved = saved if saved is not None else {}
        """PNG files of this run's images and figures (``LocalLogger.written``), sent as they
        are: drawing a figure again costs more than the rest of the W&B logging of a job."""
        self.run = None
        self.step = 0
        self._cached_before: set[str] = set()

    def start(self, config: dict[str, Any]) -> None:
        mode = resolve_mode(self.mode)
        if mode == "disabled":
            return
        mode = usable_mode(mode)
        os.environ.setdefault("WANDB_SILENT", "true")
        import wandb

        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._cached_before = set(_artifact_cache() or ())
        kwargs = dict(
            dir=str(self.run_dir),
            config=config,
            project=resolve_project(self.project),
            id=stable_run_id(self.run_dir, config, self.kwargs["group"]),
            resume="allow",
            reinit="finish_previous",
            **{k: v for k, v in self.kwargs.items() if v is not None},
        )

        def settings(timeout: float) -> Any:
            return wandb.Settings(
                console="off",
                x_disable_stats=True,
                x_disable_meta=True,
                x_save_requirements=not _packages_recorded,
                init_timeout=timeout,
                x_graphql_timeout_seconds=timeout,  # the resume lookup of an online start
            )

        try:
            self.run = wandb.init(mode=mode, settings=settings(INIT_SECONDS), **kwargs)
        except Exception as err:  # noqa: BLE001 - e.g. a rejected key: keep the run offline
            if mode != "online":
                raise
            log.warning("W&B online start failed (%s); logging offline instead.", err)
            wandb.teardown()  # drop the half-open online stream, which holds the run id
            self.run = wandb.init(mode="offline", settings=settings(90.0), **kwargs)
        self.step = int(getattr(self.run, "step", 0) or 0)  # a resumed run continues
        _record_packages_once()

    def log_result(self, result: Result) -> None:
        if self.run is None:
            return
        for i, values in enumerate(_rows(result.history)):
            self.run.log({f"curves/{k}": v for k, v in values.items()}, step=self.step + i)
        last = self.step + max((len(v) for v in result.history.values()), default=0)
        payload: dict[str, Any] = dict(_scalars(result.metrics))
        for name, image in result.images.items():
            payload[f"images/{name}"] = self._image(("image", name), image)
        for name, figure in result.figures.items():
            payload[f"figures/{name}"] = self._image(("figure", name), figure)
        overrides = split_overrides(
            self.overrides if self.overrides is not None else hydra_overrides()
        )
        images = {n: p for (kind, n), p in self.saved.items() if kind == "image" and p.is_file()}
        name = self.kwargs["name"] or self.run.name
        payload[TABLE_KEY] = job_table(name, overrides, result, images)
        self.run.log(payload, step=last)
        for key, value in result.metrics.items():
            if not isinstance(value, (int, float, bool)):
                self.run.summary[key] = value

    def _image(self, key: tuple[str, str], value: Any):
        """A ``wandb.Image`` of an image or figure (``key``: kind and name): its PNG file when
        already written, else ``value`` encoded (or the figure drawn)."""
        import wandb

        path = self.saved.get(key)
        if path is not None and path.is_file():
            return wandb.Image(str(path))
        return figure_image(value) if key[0] == "figure" else wandb.Image(value)

    def finish(self) -> None:
        if self.run is not None:
            self.run.finish()
            self.run = None
            self._forget_artifacts()

    def _forget_artifacts(self) -> None:
        """Drop the artifacts this run made (its table's) from W&B's process-wide cache once
        the run is finished and written: no later job refers to them, and a sweep's process
        would otherwise keep up to 100 finished runs alive (see :func:`_artifact_cache`)."""
        cache = _artifact_cache()
        if cache is None:
            return
        for key in [k for k in cache if k not in self._cached_before]:
            cache.pop(key, None)


def _rows(history: dict[str, list[float]]):
    """Per-step dicts of a method's curves (curves of different lengths end early)."""
    steps = max((len(v) for v in history.values()), default=0)
    for i in range(steps):
        yield {k: float(v[i]) for k, v in history.items() if i < len(v)}
