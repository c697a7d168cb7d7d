"""vizlab from Python: the command line's runs without Hydra's command line.

    import vizlab
    result = vizlab.run("method=activation_max", "target=logit", "target.index=301")
    result = vizlab.run("method=gradcam", model=my_module)     # any torch.nn.Module
    ctx = vizlab.context("model=tiny_cnn")                     # the pieces a method gets

Overrides are the strings ``python run.py`` takes; the packaged config is composed as it
would be there. A model object (``model=``) replaces the configured model; its input spec
comes from timm's pretrained config, or ``model.input={size: ..., mean: [...], std: [...]}``,
or ImageNet's (224 px, mean, std) with a notice.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vizlab.config import compose
from vizlab.errors import VizlabError

if TYPE_CHECKING:
    from omegaconf import DictConfig
    from torch import nn

    from vizlab.methods.base import Result, RunContext
    from vizlab.models.wrapper import VisionModel

__all__ = ["compose_run", "context", "run"]  # and render, from vizlab.preimage on first use


def compose_run(overrides: Sequence[str], model: Any = None) -> DictConfig:
    """The config of a run with ``overrides``; with a model object and no ``model=`` override
    the model node is ``conf/model/module.yaml`` named after the object's class."""
    overrides = list(overrides)
    for item in overrides:
        if not isinstance(item, str):
            raise VizlabError(
                f"Override {item!r} is not a string ({type(item).__name__}); overrides are "
                "strings as on the command line, e.g. vizlab.run('method=activation_max', "
                "'target.index=301'). "
                "Pass a model object as model=..."
            )
    if model is not None and not any(o.startswith("model=") for o in overrides):
        name = getattr(model, "name", None) if _is_vision_model(model) else None
        name = re.sub(r"[^\w.\-]", "_", name or type(model).__name__)  # a plain override value
        overrides = ["model=module", f"model.name={name}", *overrides]
    return compose(overrides)


def _is_vision_model(model: Any) -> bool:
    from vizlab.models.wrapper import VisionModel

    return isinstance(model, VisionModel)


def _check_model(model: Any) -> None:
    from torch import nn

    if model is not None and not (isinstance(model, nn.Module) or _is_vision_model(model)):
        raise VizlabError(
            f"model={type(model).__name__} is not a torch.nn.Module. Pass a network object "
            "(e.g. torchvision.models.resnet18(weights=None)), or leave model out and choose "
            "one with an override such as 'model=efficientnet_lite0'."
        )


def context(*overrides: str, model: nn.Module | VisionModel | None = None) -> RunContext:
    """What a method receives for a run with ``overrides`` (a :class:`RunContext`: the
    composed config, the model, the typed method options, lazily the references, target and
    regularizers), built without running anything."""
    from vizlab import registry
    from vizlab.devices import resolve_device
    from vizlab.methods.base import RunContext
    from vizlab.runner import load_model
    from vizlab.validate import validate_config

    _check_model(model)
    cfg = compose_run(overrides, model)
    method_cls = registry.load(cfg.method.name)
    options = validate_config(cfg, method_cls)  # what the runner checks, before the model loads
    vision_model = load_model(cfg, resolve_device(cfg.get("device")), model)
    return RunContext(cfg, vision_model, progress=bool(cfg.get("progress")), options=options)


def run(
    *overrides: str,
    model: nn.Module | VisionModel | None = None,
    output_dir: str | Path | None = None,
) -> Result:
    """Run one job as ``python run.py OVERRIDES`` would, and return its :class:`Result`
    (images, metrics, figures, tensors). Files go to ``output_dir``, by default a fresh
    folder ``./outputs/<date>/<time>_<method>`` as on the command line."""
    from vizlab import runner

    _check_model(model)
    cfg = compose_run(overrides, model)
    run_dir = Path(output_dir) if output_dir is not None else fresh_run_dir(cfg.method.name)
    run_dir.mkdir(parents=True, exist_ok=True)
    return runner.run(cfg, run_dir=run_dir, model=model)


def fresh_run_dir(method: str, root: str | Path = "outputs") -> Path:
    """A new folder ``root/<date>/<time>_<method>`` (``-2``, ``-3``... if it exists)."""
    now = datetime.now()
    base = Path(root) / now.strftime("%Y-%m-%d") / f"{now.strftime('%H-%M-%S')}_{method}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def __getattr__(name: str) -> Any:
    if name == "render":  # the engine's one-call entry point, imported when first used
        from vizlab.preimage import render

        return render
    raise AttributeError(f"module 'vizlab.api' has no attribute {name!r}")
