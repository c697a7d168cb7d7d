"""Build everything from a composed config, run the method, hand the result to the loggers."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from vizlab import registry
from vizlab.devices import resolve_device, resolve_precision
from vizlab.errors import VizlabError
from vizlab.loggers import LocalLogger, MultiLogger, WandbLogger
from vizlab.methods.base import Result, RunContext
from vizlab.models.loading import build_model, wrap_model
from vizlab.models.wrapper import VisionModel
from vizlab.schema import typed

log = logging.getLogger(__name__)
_MODEL_CACHE: dict[str, torch.nn.Module] = {}


def load_model(
    cfg: DictConfig, device: torch.device, module: torch.nn.Module | None = None
) -> VisionModel:
    """The model of ``cfg.model`` (or ``module``, a model object given from Python) on
    ``device``; built modules are cached within a process so the jobs of a sweep do not
    reload weights."""
    if module is None:
        key = OmegaConf.to_yaml(cfg.model) + str(device)
        if key not in _MODEL_CACHE:
            _MODEL_CACHE.clear()  # keep one model in memory
            _MODEL_CACHE[key] = build_model(cfg.model).to(device)
        module = _MODEL_CACHE[key]
    model = wrap_model(module, cfg.model, device)
    model.precision = resolve_precision(cfg.get("precision"))
    return model.with_input_size(cfg.data.get("size"))


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
    }
    if str(hc.mode) == "RunMode.MULTIRUN":
        info["group"] = Path(hc.sweep.dir).name
    return info


def build_loggers(cfg: DictConfig, run_dir: Path, job: dict[str, Any]) -> MultiLogger:
    loggers = [LocalLogger(run_dir)]
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
            )
        )
    return MultiLogger(loggers)


def run(
    cfg: DictConfig, run_dir: str | Path | None = None, model: torch.nn.Module | None = None
) -> Result:
    """Run one configured job; results go to ``run_dir`` (Hydra's output dir by default).
    ``model``: a model object to use instead of building ``cfg.model`` (the Python API)."""
    job = _hydra_job()
    run_dir = Path(run_dir or job.get("run_dir") or "outputs/run")
    device = resolve_device(cfg.get("device"))
    if cfg.get("threads"):  # else torch's default (joblib's workers already share the cores)
        torch.set_num_threads(int(cfg.threads))
    seed = int(cfg.method.get("seed", 0))
    torch.manual_seed(seed)
    method_cls = registry.load(cfg.method.name)
    options = typed(method_cls.Options, cfg.method, "method") if method_cls.Options else None
    model = load_model(cfg, device, model)
    ctx = RunContext(cfg, model, progress=bool(cfg.get("progress", True)), options=options)
    loggers = build_loggers(cfg, run_dir, job)
    loggers.start(OmegaConf.to_container(cfg, resolve=True))
    try:
        result = method_cls().run(ctx)
        result.metrics.setdefault("method", cfg.method.name)
        result.metrics.setdefault("model", cfg.model.name)
        result.metrics.setdefault("torch_threads", torch.get_num_threads())
        result.metrics.setdefault("device", str(device))
        result.metrics.setdefault("precision", model.precision)
        if loggers.failures:
            result.metrics["logger_failures"] = dict(loggers.failures)
        loggers.log_result(result)
    finally:
        loggers.finish()
    release_figures(result)
    print_summary(result, run_dir)
    return result


def release_figures(result: Result) -> None:
    """Detach the result's figures from pyplot once logged: the jobs of an in-process sweep
    would otherwise pile up open figures (and their memory). A closed figure can still be
    saved or drawn by whoever holds the Result."""
    import matplotlib.pyplot as plt

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
    print("\n".join(lines), file=sys.stdout, flush=True)


def main_with_errors(cfg: DictConfig) -> Result:
    """Hydra task: a :class:`VizlabError` becomes a one-paragraph message and exit code 2."""
    try:
        return run(cfg)
    except VizlabError as err:
        print(f"vizlab error: {err}", file=sys.stderr, flush=True)
        raise SystemExit(err.exit_code) from None
