"""One call to visualize what a unit of a network responds to, in the manner of lucent's
``render_vis``: the model, objective, parameterization, optimizer, regularizers and transforms
are values with defaults, and the result holds the images and the per-step history.

    from vizlab.preimage import render
    result = render(model, "blocks.3:7")         # channel 7 of layer blocks.3
    result.images                                # 1 x 3 x H x W in [0, 1]

The defaults are the feature-visualization recipe of Olah et al. 2017 (Fourier
parameterization with decorrelated colour, Adam, lucid's standard transforms), taken from the
packaged configs (``conf/param/fourier.yaml``, ``conf/transforms/standard.yaml``...), so a
name given here means the same as on the command line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from omegaconf import OmegaConf
from torch import nn

from vizlab.errors import VizlabError
from vizlab.models.wrapper import OUTPUT, VisionModel
from vizlab.optim.schema import AdamOptions, validate_optimizer
from vizlab.params.base import ImageParam
from vizlab.params.build import build_param
from vizlab.preimage.loop import optimize
from vizlab.preimage.problem import image_generators, image_keys
from vizlab.preimage.readout import to_unit_images
from vizlab.regularizers.stack import RegularizerStack, build_regularizers
from vizlab.targets.objectives import (
    ChannelObjective,
    LayerEnergy,
    LogitObjective,
    Objective,
)
from vizlab.targets.schema import parse_indices
from vizlab.transforms.stack import TransformStack, build_transforms

PIXEL_ADAM_LR = 2.0
"""Adam's step for ``param="pixel"`` without an optimizer: conf/optimizer/adam.yaml's lr, in
paper units (pixel values 0..255)."""


@dataclass
class RenderResult:
    """``images``: N x 3 x H x W in [0, 1] (CPU); ``history``: per-step ``energy``, ``data``
    (minus the objective, averaged over the images) and penalty terms; ``objective``: the
    objective's final value per image; ``interrupted``: Ctrl-C stopped the loop early (the
    images are the state reached); ``extras``: the parameterization's maps (MaCo's alpha)."""

    images: torch.Tensor
    history: dict[str, list[float]]
    objective: list[float] = field(default_factory=list)
    interrupted: bool = False
    extras: dict[str, torch.Tensor] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)


def _packaged(group: str, name: str) -> Any:
    """``conf/<group>/<name>.yaml`` of the packaged configs as a plain container."""
    from vizlab.config import config_dir

    file = config_dir() / group / f"{name}.yaml"
    if not file.is_file():
        names = sorted(p.stem for p in file.parent.glob("*.yaml"))
        raise VizlabError(
            f"{group}={name!r} is not one of the packaged {group} configs: {', '.join(names)} "
            f"(conf/{group}/). Pass a dict or an object for anything else."
        )
    node = OmegaConf.to_container(OmegaConf.load(file), resolve=True)
    if group == "transforms" and isinstance(node, dict) and "transforms" in node:
        node = node["transforms"]  # a global-package preset such as yosinski
    return node


def as_vision_model(
    model: VisionModel | nn.Module, device: str | torch.device | None
) -> VisionModel:
    """``model`` as a :class:`VisionModel`: a plain ``nn.Module`` is wrapped with timm's
    input spec when it has one, else ImageNet's (224 px, mean and std)."""
    if isinstance(model, VisionModel):
        if device is not None and torch.device(device) != torch.device(model.device):
            raise VizlabError(
                f"device={device!r} differs from the VisionModel's device ({model.device}); "
                "move the model when you load it, or leave device=None."
            )
        return model
    if not isinstance(model, nn.Module):
        raise VizlabError(
            f"model={type(model).__name__} is neither a vizlab VisionModel nor a torch nn.Module."
        )
    from vizlab.models.loading import wrap_model

    return wrap_model(model, {"name": type(model).__name__}, device or "cpu")


def parse_objective(objective: Objective | str, model: VisionModel) -> tuple[Objective, list[int]]:
    """An objective and its units: an :class:`Objective` as given, or a shorthand
    ``"<layer>:<index>"`` (mean of channel ``index``, e.g. ``"blocks.3:7"``; ``index`` may be
    ``"0:4"`` or ``"1,5,9"`` for several units), ``"logit:<class>"``, or ``"<layer>"`` (the
    whole layer's energy, DeepDream's)."""
    if isinstance(objective, Objective):
        indices = getattr(objective, "index", None)
        return objective, [int(i) for i in indices.tolist()] if indices is not None else [0]
    if not isinstance(objective, str) or not objective:
        raise VizlabError(
            f"objective={objective!r} is neither an Objective nor a string such as "
            "'blocks.3:7' (channel 7 of blocks.3), 'logit:301' or 'blocks.3'."
        )
    layer, _, index = objective.partition(":")
    if layer == "logit":
        layer = OUTPUT
    if layer != OUTPUT:
        model.resolve(layer)  # a clear error naming the valid layers
    if not index:
        if layer == OUTPUT:
            raise VizlabError(f"objective={objective!r}: give a class, e.g. 'logit:301'.")
        return LayerEnergy(layer), [0]
    from vizlab.schema import OptionError

    try:
        units = parse_indices([int(u) for u in index.split(",")] if "," in index else index)
    except (ValueError, OptionError):
        raise VizlabError(
            f"objective={objective!r}: the part after ':' must be a unit index (7), a range "
            "'0:4' or a list '1,5,9'."
        ) from None
    assert units is not None
    if layer == OUTPUT:
        n = model.num_classes
        if not n:
            raise VizlabError(f"objective={objective!r}: {model.name} has no classifier head.")
    else:
        shape = model.output_shapes([layer])[layer]
        n = shape[-1] if len(shape) == 3 else shape[1]
    bad = [u for u in units if u >= n]
    if bad:
        raise VizlabError(
            f"objective={objective!r}: unit {bad[0]} is out of range; '{layer}' has {n} units "
            f"(0..{n - 1})."
        )
    objective_ = LogitObjective(units) if layer == OUTPUT else ChannelObjective(layer, units)
    return objective_, units


def _param(param: str | dict | ImageParam) -> Any:
    return _packaged("param", param) if isinstance(param, str) else param


def _optimizer(optimizer: Any, param_options: Any) -> Any:
    """The optimizer config or factory: given, else the parameterization's own, else Adam."""
    if optimizer is None:
        own = param_options.get("optimizer") if isinstance(param_options, dict) else None
        if own is not None:
            return validate_optimizer(own, "param.optimizer")
        name = param_options.get("name") if isinstance(param_options, dict) else None
        return AdamOptions(lr=PIXEL_ADAM_LR if name == "pixel" else 0.05)
    if isinstance(optimizer, str):
        return validate_optimizer(_packaged("optimizer", optimizer), "optimizer")
    return optimizer


def render(
    model: VisionModel | nn.Module,
    objective: Objective | str,
    param: str | dict | ImageParam = "fourier",
    optimizer: Any = None,
    regularizers: str | dict | RegularizerStack | None = None,
    transforms: str | dict | list | TransformStack | None = "standard",
    iterations: int = 256,
    size: int | tuple[int, int] | None = None,
    batch: int = 1,
    seed: int = 0,
    progress: bool = True,
    device: str | torch.device | None = None,
) -> RenderResult:
    """Maximize ``objective`` of ``model`` and return the images and the per-step history.

    ``param``: ``"fourier"`` | ``"pixel"`` | ``"maco"`` (the packaged configs), a param config
    dict, or an :class:`ImageParam` already built (then ``size``/``batch`` come from it).
    ``optimizer``: None (the parameterization's own: Adam), ``"adam"`` | ``"preimage_sgd"``,
    an optimizer config dict, or a factory ``params -> torch.optim.Optimizer``.
    ``regularizers``: None (none), ``"paper"`` (M&V's prior), a config dict, or a stack;
    penalties apply to parameterizations with ``penalties`` (pixels). ``transforms``:
    ``"standard"`` (lucid's), ``"crops"``, None, a config dict, a list of callables
    ``(x, generators) -> x``, or a stack. ``size``: the image side(s), default the model's
    input size; ``batch``: images per unit (each its own random start); ``seed`` seeds them.
    """
    vm = as_vision_model(model, device)
    obj, units = parse_objective(objective, vm)
    if not isinstance(iterations, int) or isinstance(iterations, bool) or iterations < 1:
        raise VizlabError(f"iterations={iterations!r} must be a whole number >= 1.")
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise VizlabError(f"batch={batch!r} must be a whole number >= 1.")
    if size is None:
        hw = tuple(vm.spec.size)
    else:
        hw = (size, size) if isinstance(size, int) else tuple(size)
        if len(hw) != 2 or any(not isinstance(s, int) or s < 8 for s in hw):
            raise VizlabError(f"size={size!r} must be a side >= 8 pixels or (height, width).")
    if isinstance(regularizers, str):
        regularizers = _packaged("regularizers", regularizers)
    stack = (
        regularizers
        if isinstance(regularizers, RegularizerStack)
        else build_regularizers(regularizers)
    )
    stack = RegularizerStack(stack.penalties, None, stack.B, stack.alpha)  # no Eq. 7 jitter:
    # the transforms jitter instead (as lucid), and the canvas is the picture itself
    if isinstance(transforms, str):
        transforms = _packaged("transforms", transforms)
    if isinstance(transforms, list):
        transforms = TransformStack(list(transforms))
    tstack = transforms if isinstance(transforms, TransformStack) else build_transforms(transforms)
    keys = image_keys(units, batch)
    n = len(keys)
    if isinstance(param, ImageParam):
        image_param = param
        canvas = image_param.paper()
        if canvas.shape[0] != n:
            raise VizlabError(
                f"The ImageParam renders {canvas.shape[0]} images, but the objective has "
                f"{len(units)} unit(s) x batch={batch} = {n}."
            )
        opt = _optimizer(optimizer, {})
    else:
        options = _param(param)
        image_param = build_param(
            options,
            vm.units,
            vm.spec,
            n,
            hw,
            generators=image_generators(seed, keys, 0),
            device=vm.device,
            B=stack.B,
        )
        opt = _optimizer(optimizer, options if isinstance(options, dict) else {"name": "?"})
    if callable(opt) and not isinstance(opt, torch.optim.Optimizer):
        optimizer_ = opt
    else:
        from vizlab.optim import build_optimizer

        h, w = image_param.paper().shape[-2:]

        def optimizer_(params):
            return build_optimizer(opt, params, h * w, stack.B, stack.alpha)

    trace = optimize(
        vm,
        lambda feats: -obj(feats),
        obj.layers,
        image_param,
        optimizer_,
        iterations=iterations,
        regularizers=stack,
        transforms=tstack,
        generators=image_generators(seed, keys, 1),
        progress=progress,
        desc=f"render {obj}",
    )
    with torch.no_grad():
        x = trace.x.to(vm.device)
        score = obj(vm.features(vm.units.paper_to_model(x), list(obj.layers)))
    return RenderResult(
        images=to_unit_images(vm, trace.x).cpu(),
        history=trace.history,
        objective=[float(s) for s in score.cpu()],
        interrupted=trace.interrupted,
        extras={k: v.cpu() for k, v in trace.extras.items()},
        timing=trace.timing(),
    )
