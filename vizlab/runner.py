"""Build everything from a composed config, run the method, hand the result to the loggers."""

from __future__ import annotations

import json
import logging
import sys
import traceback
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from vizlab import interrupts, registry
from vizlab import rundirs as _rundirs  # noqa: F401 - registers the run-folder resolvers
from vizlab.config import compose
from vizlab.devices import resolve_device, resolve_precision
from vizlab.errors import VizlabError
from vizlab.jobs import METRICS_FILE, JobRecord, find_complete, job_id
from vizlab.loggers import LocalLogger, MultiLogger, WandbLogger
from vizlab.loggers.base import NONFINITE_KEY, Logger, flag_nonfinite
from vizlab.methods.base import Result, RunContext
from vizlab.models.loading import build_model, wrap_model
from vizlab.models.wrapper import VisionModel
from vizlab.validate import check_model_layers, validate_config

log = logging.getLogger(__name__)
_MODEL_CACHE: dict[str, torch.nn.Module] = {}
_GEOMETRY: dict[str, dict] = {}
"""Geometry measured on the cached module (execution order, output shapes, receptive fields),
shared by its wrappers, so the jobs of a sweep do not trace the model again."""


def load_model(
    cfg: DictConfig, device: torch.device, module: torch.nn.Module | None = None
) -> VisionModel:
    """The model of ``cfg.model`` (or ``module``, a model object given from Python) on
    ``device``; built modules are cached within a process so the jobs of a sweep do not
    reload weights."""
    key = OmegaConf.to_yaml(cfg.model) + str(device)
    if module is None:
        if key not in _MODEL_CACHE:
            _MODEL_CACHE.clear()  # keep one model in memory
            _GEOMETRY.clear()
            _MODEL_CACHE[key] = build_model(cfg.model).to(device)
        module = _MODEL_CACHE[key]
    model = wrap_model(module, cfg.model, device)
    model.precision = resolve_precision(cfg.get("precision"))
    model = model.with_input_size(cfg.data.get("size"))
    if module is _MODEL_CACHE.get(key):
        model.share_geometry(_GEOMETRY.setdefault(key, {}))
    return model


def _hydra_job() -> dict[str, Any]:
    """Run folder and sweep identity when running under Hydra (else empty)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        hc = HydraConfig.get()
    except Exception:  # noqa: BLE001 - not running under @hydra.main
        return {}
    info: dict[str, Any] = {
        "run_dir": hc.runtime.output_dir,
        "name": hc.job.override_dirname or hc.job.name,
        "overrides": list(hc.overrides.task),
    }
    if str(hc.mode) == "RunMode.MULTIRUN":
        # the job folder is one level below the sweep folder (never re-resolve sweep.dir)
        info["sweep_dir"] = str(Path(hc.runtime.output_dir).parent)
        info["group"] = Path(info["sweep_dir"]).name
        info["num"] = hc.job.num
    return info


def build_loggers(cfg: DictConfig, run_dir: Path, job: dict[str, Any]) -> MultiLogger:
    local = LocalLogger(run_dir)
    loggers: list[Logger] = [local]
    wb = (cfg.get("logger") or {}).get("wandb") or {}
    if wb.get("enabled", False):
        loggers.append(
            WandbLogger(
                run_dir,
                project=wb.get("project", "vizlab"),
                mode=wb.get("mode", "offline"),
                group=wb.get("group") or job.get("group"),
                name=job.get("name"),
                entity=wb.get("entity"),
                tags=list(wb.get("tags") or []) or None,
                saved=local.written,  # the local PNGs, written first
            )
        )
    return MultiLogger(loggers)


def run(
    cfg: DictConfig, run_dir: str | Path | None = None, model: torch.nn.Module | None = None
) -> Result:
    """Run one configured job; results go to ``run_dir`` (Hydra's output dir by default).
    ``model``: a model object to use instead of building ``cfg.model`` (the Python API).

    The whole config is checked before the model loads. The run's ``job.json`` records its
    id and status; with ``sweep.resume=true`` a job already complete in its sweep is skipped.
    On Ctrl-C or SIGTERM whatever exists is written (metrics marked ``interrupted``) and
    :class:`RunInterrupted` is raised."""
    job = _hydra_job()
    run_dir = Path(run_dir or job.get("run_dir") or "outputs/run")
    record = JobRecord(_job_id_or_none(cfg) or "", overrides=list(job.get("overrides", [])))
    try:
        method_cls = registry.load(cfg.method.name)
        options = validate_config(cfg, method_cls)
        done = _already_complete(cfg, job, record.id)
        if done is not None:
            print(f"[vizlab] skipped: job already complete in {done} (sweep.resume=true)")
            return Result(metrics=json.loads((done / METRICS_FILE).read_text()))
        if interrupts.stop_requested():
            raise KeyboardInterrupt("stop requested before the job started")
        _write_record(record, run_dir)
        job["id"] = record.id  # stable across reruns of the job (e.g. a W&B run id)
        result = _execute(cfg, run_dir, job, method_cls, options, model)
    except KeyboardInterrupt:
        if run_dir.is_dir():
            record.finish(run_dir, "interrupted")
        raise RunInterrupted(run_dir) from None
    except Exception as err:
        if run_dir.is_dir():
            _record_failure(run_dir, record, err)
        raise
    interrupted = bool(result.metrics.get("interrupted")) or interrupts.stop_requested()
    record.finish(run_dir, "interrupted" if interrupted else "complete")
    if interrupted:
        raise RunInterrupted(run_dir, result)
    return result


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a run; what it had computed is in ``run_dir``."""

    def __init__(self, run_dir: Path, result: Result | None = None):
        super().__init__(str(run_dir))
        self.run_dir, self.result = run_dir, result


def _job_id_or_none(cfg: DictConfig) -> str | None:
    try:
        return job_id(cfg)
    except Exception:  # noqa: BLE001 - an unresolvable config is reported by validation
        return None


def _already_complete(cfg: DictConfig, job: dict[str, Any], jid: str) -> Path | None:
    """With ``sweep.resume=true`` in a sweep, the folder of this job's complete earlier run."""
    sweep = cfg.get("sweep") or {}
    if not (sweep.get("resume") and job.get("sweep_dir") and jid):
        return None
    return find_complete(Path(job["sweep_dir"]), jid)


def _write_record(record: JobRecord, run_dir: Path) -> None:
    """The first write into the run folder: an unwritable folder is a clear error."""
    try:
        record.write(run_dir)
    except OSError as err:
        raise VizlabError(
            f"Cannot write into the run folder '{run_dir}' ({err.strerror or err}). Run from a "
            "folder you can write to (runs go to ./outputs) or choose one with "
            "hydra.run.dir=/path/to/folder (hydra.sweep.dir=... for -m sweeps)."
        ) from None


def _record_failure(run_dir: Path, record: JobRecord, err: BaseException) -> None:
    """``job.json`` says failed with the error; ``error.txt`` holds the message (and the
    traceback of an unexpected error) for the sweep summary and the report."""
    message = f"{type(err).__name__}: {err}"
    text = str(err) if isinstance(err, VizlabError) else traceback.format_exc()
    try:
        (run_dir / "error.txt").write_text(text)
        record.finish(run_dir, "failed", message)
    except OSError as write_err:
        log.warning("could not record the failure in %s: %s", run_dir, write_err)


def _execute(
    cfg: DictConfig,
    run_dir: Path,
    job: dict[str, Any],
    method_cls: type,
    options: Any,
    module: torch.nn.Module | None,
) -> Result:
    """Load, run the method, and log; Ctrl-C or SIGTERM while computing keeps what exists
    (the method's partial result, or at least the config and metrics marked interrupted)."""
    device = resolve_device(cfg.get("device"))
    if cfg.get("threads"):  # else torch's default (joblib's workers already share the cores)
        torch.set_num_threads(int(cfg.threads))
    torch.manual_seed(int(cfg.method.get("seed", 0)))
    loggers: MultiLogger | None = None
    precision = None
    try:
        with interrupts.as_keyboard_interrupt():
            model = load_model(cfg, device, module)
            check_model_layers(cfg, model)
            precision = model.precision
            ctx = RunContext(cfg, model, progress=bool(cfg.get("progress", True)), options=options)
            loggers = build_loggers(cfg, run_dir, job)
            loggers.start(OmegaConf.to_container(cfg, resolve=True))
            result = method_cls().run(ctx)
    except KeyboardInterrupt:
        result = Result(metrics={"interrupted": True})
    with interrupts.deferred():  # a second Ctrl-C must not cut the files in half
        if loggers is None:
            loggers = MultiLogger([LocalLogger(run_dir)])
            loggers.start(OmegaConf.to_container(cfg, resolve=True))
        try:
            result.metrics.setdefault("method", cfg.method.name)
            result.metrics.setdefault("model", cfg.model.name)
            result.metrics.setdefault("torch_threads", torch.get_num_threads())
            result.metrics.setdefault("device", str(device))
            if precision is not None:
                result.metrics.setdefault("precision", precision)
            if interrupts.stop_requested():
                result.metrics["interrupted"] = True
            result.metrics = flag_nonfinite(result.metrics)
            if loggers.failures:
                result.metrics["logger_failures"] = dict(loggers.failures)
            loggers.log_result(result)
        finally:
            loggers.finish()
            _note_logger_failures(loggers, result, run_dir)
    release_figures(result)
    print_summary(result, run_dir)
    return result


def _note_logger_failures(loggers: MultiLogger, result: Result, run_dir: Path) -> None:
    """A remote logger that failed after the local files were written is noted in
    ``metrics.json`` too (the local logger never fails silently: it raises)."""
    if not loggers.failures or result.metrics.get("logger_failures") == loggers.failures:
        return
    result.metrics["logger_failures"] = dict(loggers.failures)
    if (run_dir / METRICS_FILE).is_file():
        LocalLogger(run_dir).write_metrics(result.metrics)


def release_figures(result: Result) -> None:
    """Detach the result's figures from pyplot once logged: the jobs of an in-process sweep
    would otherwise pile up open figures (and their memory). A closed figure can still be
    saved or drawn by whoever holds the Result. Only figures made with pyplot are held by it,
    so without pyplot imported there is nothing to release (and no need to import it)."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return
    for figure in result.figures.values():
        plt.close(figure)


def print_summary(result: Result, run_dir: Path) -> None:
    lines = [f"[vizlab] results in {run_dir}"]
    for key, value in result.metrics.items():
        if isinstance(value, float):
            lines.append(f"  {key}: {value:.4g}")
        elif isinstance(value, (int, bool, str)):
            lines.append(f"  {key}: {value}")
        elif key.endswith("top5"):
            lines.append(f"  {key}: {', '.join(value)}")
        elif key == NONFINITE_KEY:
            lines.append(f"  {key} (written as null): {', '.join(value)}")
    print("\n".join(lines), file=sys.stdout, flush=True)


def main_with_errors(cfg: DictConfig) -> Result | None:
    """Hydra task: a :class:`VizlabError` becomes a one-paragraph message and exit code 2; an
    interrupt keeps what was computed and exits with 130 and one line. In a sweep a failing
    job is recorded (``job.json``, ``error.txt``) and the sweep goes on with the next job."""
    job = _hydra_job()
    sweeping = "sweep_dir" in job
    if not sweeping:
        interrupts.clear()
    try:
        with interrupts.as_keyboard_interrupt():
            return run(cfg)
    except KeyboardInterrupt as err:
        run_dir = getattr(err, "run_dir", job.get("run_dir"))
        with interrupts.deferred():
            message = f"vizlab: interrupted; what was computed is in {run_dir}"
            if sweeping:
                from vizlab.sweep import finish_sweep

                finish_sweep(Path(job["sweep_dir"]), interrupted=True)
                message += (
                    f". Finished jobs are kept in {job['sweep_dir']}; run the same command with "
                    "sweep.resume=true to run only the missing and failed jobs"
                )
            print(message + ".", file=sys.stderr, flush=True)
        raise SystemExit(130) from None
    except VizlabError as err:
        where = f" (job {job.get('num')}, {job.get('run_dir')})" if sweeping else ""
        print(f"vizlab error{where}: {err}", file=sys.stderr, flush=True)
        if sweeping:
            return None
        raise SystemExit(err.exit_code) from None
    except Exception as err:
        if not sweeping:
            raise
        print(
            f"vizlab error (job {job.get('num')}): {type(err).__name__}: {err}; traceback in "
            f"{Path(job['run_dir']) / 'error.txt'}. The sweep goes on.",
            file=sys.stderr,
            flush=True,
        )
        return None


def main(overrides: list[str], run_dir: str | Path | None = None) -> int:
    """``python run.py OVERRIDES`` in this process (no Hydra run folder, logging or sweep):
    composes, runs into ``run_dir`` and returns the exit code, printing errors as the
    command line does. For tests and scripts."""
    interrupts.clear()
    try:
        with interrupts.as_keyboard_interrupt():
            cfg = compose(overrides)
            run(cfg, run_dir)
        return 0
    except KeyboardInterrupt as err:
        where = getattr(err, "run_dir", run_dir)
        print(f"vizlab: interrupted; what was computed is in {where}.", file=sys.stderr)
        return 130
    except VizlabError as err:
        print(f"vizlab error: {err}", file=sys.stderr, flush=True)
        return err.exit_code
