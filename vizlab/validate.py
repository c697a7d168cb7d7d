"""Check a whole composed config before any work starts (no model is loaded here).

Every group is checked by its own schema (target, param, regularizers, transforms, optimizer,
model, data, logger), the method's options by the method's ``Options``, and the top-level keys
here; a request whose activations cannot fit in memory is refused with an estimate. The first
problem found is raised as one :class:`~vizlab.errors.VizlabError` naming the key, the bad
value and what would be valid, so a mistyped command fails in about a second.
"""

from __future__ import annotations

import importlib
import logging
import os
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from vizlab.errors import VizlabError, format_choices, nearest
from vizlab.schema import OptionError, check_positive, require, typed

log = logging.getLogger(__name__)

GROUP_VALIDATORS: tuple[tuple[str, str, str], ...] = (
    ("model", "vizlab.models.schema", "validate_model"),
    ("data", "vizlab.data.schema", "validate_data"),
    ("target", "vizlab.targets.schema", "validate_target"),
    ("param", "vizlab.params.schema", "validate_param"),
    ("regularizers", "vizlab.regularizers.schema", "validate_regularizers"),
    ("transforms", "vizlab.transforms.schema", "validate_transforms"),
    ("optimizer", "vizlab.optim.schema", "validate_optimizer"),
)
"""(config group, module, function): each function takes ``(node, prefix)`` and raises
:class:`VizlabError` for a bad value."""

TOP_LEVEL_KEYS = (
    "model",
    "data",
    "target",
    "param",
    "regularizers",
    "transforms",
    "optimizer",
    "method",
    "logger",
    "device",
    "precision",
    "progress",
    "threads",
    "sweep",
)

BYTES_PER_PIXEL = 2000
"""Memory of one forward and backward pass per input pixel and image: EfficientNet-Lite0
measured about 1800 bytes (peak resident growth at 448 px); the tiny test CNN about 300."""


def _optional_validator(module: str, name: str):
    """The validator function, or None while its module does not exist (a group whose schema
    has not been written is checked when it is built instead)."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name and module.startswith(err.name):
            log.debug("no schema module %s; %s is checked when built", module, name)
            return None
        raise
    return getattr(mod, name, None)


@dataclass
class WandbOptions:
    """The W&B keys every logger config shares (engine-specific extras are the W&B logger's)."""

    enabled: bool = False
    mode: Any = None
    project: Any = None
    entity: Any = None
    group: Any = None
    tags: Any = None

    def __post_init__(self) -> None:
        if self.mode is not None:
            modes = ("online", "offline", "disabled")
            hint = nearest(str(self.mode), modes, n=1)
            require(
                self.mode in modes,
                "mode",
                self.mode,
                f"must be one of {', '.join(modes)}"
                + (f" (did you mean {hint[0]}?)" if hint else ""),
            )
        for key in ("project", "entity", "group"):
            value = getattr(self, key)
            require(value is None or isinstance(value, str), key, value, "must be a name or null")
        tags = self.tags
        require(
            tags is None or (isinstance(tags, list) and all(isinstance(t, str) for t in tags)),
            "tags",
            tags,
            "must be a list of strings",
        )


def validate_logger(node: Any, prefix: str = "logger") -> None:
    """The ``logger`` group: a ``wandb`` mapping whose common keys have the right types."""
    data = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node
    if data is None:
        return
    if not isinstance(data, dict):
        raise VizlabError(f"{prefix}={node!r} is not a logger config; use logger=default or local.")
    wandb = data.get("wandb")
    if wandb is None:
        return
    if not isinstance(wandb, dict):
        raise VizlabError(
            f"Invalid value {prefix}.wandb={wandb!r}: must be a mapping (enabled, mode, project, "
            "...); use logger=local to switch W&B off."
        )
    known = {k: v for k, v in wandb.items() if k in WandbOptions.__dataclass_fields__}
    typed(WandbOptions, known, f"{prefix}.wandb")


def validate_top_level(cfg: DictConfig) -> None:
    """``device``, ``precision``, ``threads``, ``progress``, ``sweep.resume`` and no stray
    top-level keys (``+iterations=5`` instead of ``method.iterations=5``)."""
    from vizlab.devices import resolve_device

    for key in cfg:
        if key not in TOP_LEVEL_KEYS:
            groups = [g for g in TOP_LEVEL_KEYS if isinstance(cfg.get(g), DictConfig)]
            owners = [f"{g}.{key}" for g in groups if key in cfg.get(g)]
            hint = owners or nearest(str(key), TOP_LEVEL_KEYS, n=1)
            raise VizlabError(
                f"Unknown top-level key {key}={cfg.get(key)!r}"
                + (f" (did you mean {' or '.join(hint)}?)" if hint else "")
                + f". Valid top-level keys: {format_choices(TOP_LEVEL_KEYS, 20)}; options of a "
                "group go under its name, e.g. method.iterations=50."
            )
    resolve_device(cfg.get("device"))
    if "precision" in cfg:
        from vizlab.devices import resolve_precision

        resolve_precision(cfg.get("precision"))
    threads = cfg.get("threads")
    if threads is not None:
        _check("threads", threads, lambda: check_positive("threads", threads, integer=True))
        if isinstance(threads, float):
            raise VizlabError(f"Invalid value threads={threads!r}: must be a whole number > 0.")
    progress = cfg.get("progress", True)
    if not isinstance(progress, bool):
        raise VizlabError(f"Invalid value progress={progress!r}: must be true or false.")
    sweep = cfg.get("sweep")
    if sweep is not None:
        resume = sweep.get("resume", False) if isinstance(sweep, DictConfig) else sweep
        if not isinstance(resume, bool):
            raise VizlabError(f"Invalid value sweep.resume={resume!r}: must be true or false.")


def _check(key: str, value: Any, check) -> None:
    try:
        check()
    except OptionError as err:
        raise VizlabError(f"Invalid value {key}={value!r}: {err.valid}.") from None


def _count(value: Any) -> int:
    if isinstance(value, (list, tuple)):
        return max(1, len(value))
    return 1


def _num_units(target: Any) -> int:
    """How many units a target optimizes in one batch (``target.index`` lists and ranges)."""
    if not isinstance(target, dict):
        return 1
    index = target.get("index")
    if isinstance(index, str) and ":" in index:
        start, _, stop = index.partition(":")
        try:
            return max(1, int(stop) - int(start))
        except ValueError:
            return 1
    return _count(index)


def _num_images(data: dict[str, Any]) -> int:
    if data.get("source") == "folder":
        limit = data.get("limit")
        if limit:
            return int(limit)
        try:
            return max(1, sum(1 for _ in os.scandir(os.path.expanduser(str(data.get("path"))))))
        except OSError:
            return 1
    return _count(data.get("images") or data.get("image"))


def memory_estimate(cfg: DictConfig) -> tuple[int, str]:
    """(bytes, explanation) of the activations and gradients one optimization step holds:
    images x initializations x units, each costing :data:`BYTES_PER_PIXEL` per input pixel."""
    data = OmegaConf.to_container(cfg.data, resolve=True) if "data" in cfg else {}
    size = data.get("size") or 224
    h, w = (size, size) if isinstance(size, int) else (size[0], size[-1])
    images = _num_images(data)
    method = cfg.get("method") or {}
    inits = method.get("num_inits", 1)
    inits = inits if isinstance(inits, int) and inits > 0 else 1
    target = OmegaConf.to_container(cfg.target, resolve=True) if "target" in cfg else {}
    units = _num_units(target)
    batch = images * inits * units
    how = f"{images} image(s) x {inits} init(s) x {units} unit(s)"
    if "batch_size" in method:  # the method splits its batch into chunks that fit
        chunk = method.get("batch_size")
        batch = min(batch, chunk if isinstance(chunk, int) and chunk > 0 else 1)
        how = f"a batch of {batch} (method.batch_size)"
    total = batch * h * w * BYTES_PER_PIXEL
    return total, f"{how} at {h}x{w} px, about {BYTES_PER_PIXEL} bytes per pixel"


def check_memory(cfg: DictConfig) -> None:
    """Refuse a request whose estimated activations exceed the memory available now."""
    from vizlab.devices import resolve_device
    from vizlab.preimage.memory import free_memory

    need, how = memory_estimate(cfg)
    have = free_memory(resolve_device(cfg.get("device")))
    if need <= have:
        return
    gib = 2**30
    raise VizlabError(
        f"This request needs about {need / gib:,.1f} GiB of memory ({how}), but about "
        f"{have / gib:,.1f} GiB is free, so it would be killed by the system. Use a "
        "smaller data.size (null: the model's own size), fewer images (data.limit, data.images), "
        "a smaller method.num_inits or fewer units in target.index."
    )


def validate_config(cfg: DictConfig, method_cls: type | None = None) -> Any:
    """Check every user-facing value of ``cfg`` before any model loads; returns the method's
    typed options (an instance of ``method_cls.Options``), or None when it declares none."""
    if not isinstance(cfg.get("method"), DictConfig) or "name" not in cfg.method:
        raise VizlabError("The config has no method; choose one, e.g. method=inversion.")
    validate_top_level(cfg)
    for group, module, name in GROUP_VALIDATORS:
        if group not in cfg:
            continue
        validator = _optional_validator(module, name)
        if validator is not None:
            validator(cfg.get(group), prefix=group)
    validate_logger(cfg.get("logger"), "logger")
    options = None
    if method_cls is not None and getattr(method_cls, "Options", None) is not None:
        options = typed(method_cls.Options, cfg.method, "method")
    check_memory(cfg)
    return options


LAYER_KEYS = ("layer", "diversity_layer", "layers", "style_layers", "content_layers")
"""Keys of the ``target`` and ``method`` nodes (and of composite target terms) naming layers."""


def _layer_settings(cfg: DictConfig) -> list[tuple[str, str]]:
    """(config key, layer name) for every layer a config names explicitly."""
    found: list[tuple[str, str]] = []

    def scan(node: Any, prefix: str) -> None:
        if not isinstance(node, dict):
            return
        for key in LAYER_KEYS:
            value = node.get(key)
            values = value if isinstance(value, list) else [value]
            for i, v in enumerate(values):
                if isinstance(v, str) and v not in ("auto", ""):
                    where = f"{prefix}.{key}" + (f"[{i}]" if isinstance(value, list) else "")
                    found.append((where, v))
        for i, term in enumerate(node.get("terms") or []):
            scan(term, f"{prefix}.terms[{i}]")

    for group in ("target", "method"):
        if group in cfg and isinstance(cfg.get(group), DictConfig):
            scan(OmegaConf.to_container(cfg.get(group), resolve=True), group)
    return found


def check_model_layers(cfg: DictConfig, model: Any) -> None:
    """After the model loads: a layer the config names that is a module of the model but never
    runs in its forward pass (an unused head, a dropout that fused attention skips) has no
    activations; say so instead of failing deep inside a method."""
    from vizlab.models.wrapper import OUTPUT

    settings = [(k, v) for k, v in _layer_settings(cfg) if v != OUTPUT and v in model.layer_names]
    if not settings:
        return
    ran = set(model.execution_order)
    for key, layer in settings:
        if layer not in ran:
            hint = nearest(layer, model.execution_order)
            raise VizlabError(
                f"Invalid value {key}={layer!r}: it is a module of {model.name} but never runs in "
                "its forward pass (e.g. an unused head, or a dropout that fused attention "
                f"skips), so it has no activations. Modules that run nearby: "
                f"{format_choices(hint or model.execution_order[-5:])}; `vizlab layers "
                f"model.name={model.name} --all` lists them."
            )
