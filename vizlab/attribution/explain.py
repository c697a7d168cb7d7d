"""What an attribution explains: the photo in model space, the score (a class logit -- the
top-1 class by default -- or a channel/neuron target for backbones without a class head),
baselines, and the layer a CAM hooks. Plain values and objects in, no config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from vizlab.attribution.base import ForwardFunc
from vizlab.attribution.layers import default_cam_layer
from vizlab.errors import VizlabError, format_choices, nearest
from vizlab.metrics import topk_labels
from vizlab.models.wrapper import PixelUnits, VisionModel
from vizlab.targets import TargetSpec

CLASS_KINDS = ("layer", "logit")
"""Target kinds that leave a class to explain; every other kind (channel, neuron, token_dim,
vit_mlp, direction, composite, ...) names a unit whose score is explained instead."""
BASELINES = ("mean", "black", "white", "gray", "blur")


def class_name(index: int, num_classes: int) -> str:
    if num_classes == 1000:
        from timm.data import ImageNetInfo

        return f"{index} {ImageNetInfo().index_to_description(index)}"
    return f"class {index}"


@dataclass
class Explained:
    """The photos and the score to explain.

    ``forward`` maps a model-space batch to class scores (N x K, pick ``target``) or, for unit
    targets, to one score per image (``target`` is None).
    """

    photos: Tensor  # N x 3 x H x W in [0, 1]
    inputs: Tensor  # the same in model space
    names: list[str]
    forward: ForwardFunc
    target: Tensor | None
    labels: list[str]  # what is explained, per image
    logits: Tensor | None = None  # reference logits (classifiers only)
    metrics: dict = field(default_factory=dict)

    @property
    def is_class(self) -> bool:
        return self.target is not None


def explain(
    model: VisionModel,
    photos: Tensor,
    names: list[str],
    *,
    class_index: int | None = None,
    unit: TargetSpec | None = None,
    allow_units: bool = True,
    method: str = "attribution",
) -> Explained:
    """The photos (N x 3 x H x W in [0, 1]) and the score to explain: a class logit
    (``class_index``, or each photo's top-1 class when None) or, with ``unit``, one unit of a
    target (channel, neuron, token_dim, ...). ``method`` names the caller in messages."""
    photos = photos.to(model.device)
    inputs = model.units.unit_to_model(photos)
    logits = None
    if model.num_classes:
        with torch.no_grad():
            logits = model.module(inputs)
    metrics: dict = {}
    if logits is not None:
        tops = topk_labels(logits)
        metrics["top5"] = tops[0]
        for name, top in list(zip(names, tops))[1:]:
            metrics[f"{name}_top5"] = top
    if unit is not None:
        return _unit_target(model, unit, photos, inputs, names, logits, metrics, allow_units,
                            class_index, method)  # fmt: skip
    if not model.num_classes:
        example = (
            "target=token_dim target.layer=blocks.11 target.index=0 (one hidden dimension of "
            "a block's tokens)"
            if model.is_vit
            else "target=channel target.layer=blocks.5 target.index=0 (one channel's mean)"
        )
        raise VizlabError(
            f"{model.name} has no classification head (num_classes=0), so there is no class "
            f"score for method={method} to explain (method.class_index). Explain a unit "
            f"instead, e.g. {example}, or use a classifier model."
        )
    if class_index is None:
        target = logits.argmax(1)
        metrics["class_choice"] = "top-1 prediction"
    else:
        if not 0 <= int(class_index) < model.num_classes:
            raise VizlabError(
                f"method.class_index={class_index} is out of range: {model.name} has "
                f"{model.num_classes} classes, so valid indices are 0..{model.num_classes - 1} "
                "(or null for the top-1 predicted class)."
            )
        target = torch.full((len(names),), int(class_index), dtype=torch.long, device=photos.device)
        metrics["class_choice"] = "method.class_index"
    labels = [class_name(int(i), model.num_classes) for i in target]
    metrics["class_index"] = int(target[0])
    metrics["class_label"] = labels[0]
    probs = logits.softmax(1).gather(1, target.view(-1, 1)).squeeze(1)
    metrics["class_probability"] = float(probs[0])
    return Explained(photos, inputs, names, model.module, target, labels, logits, metrics)


def _unit_target(
    model, spec, photos, inputs, names, logits, metrics, allow_units, class_index, method
) -> Explained:
    if not allow_units:
        raise VizlabError(
            f"method={method} explains a class score, but target={spec.kind} asks for a unit. "
            "Use method=gradcam (any unit or class) or drop the target override."
        )
    if class_index is not None:
        raise VizlabError(
            f"method.class_index={class_index} and target={spec.kind} both name what to "
            "explain; give only one of them."
        )
    if spec.num_units != 1:
        raise VizlabError(
            f"target.index={spec.indices} names {spec.num_units} units; attribution explains one "
            "unit at a time, so give a single int (e.g. target.index=0)."
        )
    objective = spec.objective
    layers = list(objective.layers)

    def forward(x: Tensor) -> Tensor:
        return objective(model.features(x, layers))

    label = f"{spec.kind} {spec.unit_labels(model)[0]}"
    metrics["unit"] = label
    return Explained(photos, inputs, names, forward, None, [label] * len(names), logits, metrics)


def is_baseline(value: Any) -> bool:
    """Whether ``value`` names a baseline :func:`baseline` knows."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return 0.0 <= float(value) <= 1.0
    return value in BASELINES


def baseline(units: PixelUnits, name: str | float, inputs: Tensor, photos: Tensor) -> Tensor:
    """A reference image in model space: ``mean`` (the dataset mean colour, i.e. zeros of the
    normalized input), ``black``, ``white``, ``gray`` (0.5), ``blur`` (the photo blurred with
    a Gaussian of sigma = 1/20 of its side), or a number in [0, 1] (a uniform gray level)."""
    if isinstance(name, (int, float)) and not isinstance(name, bool):
        return units.unit_to_model(torch.full_like(photos, float(name)))
    if name == "mean":
        return torch.zeros_like(inputs)
    if name in ("black", "white", "gray"):
        level = {"black": 0.0, "white": 1.0, "gray": 0.5}[name]
        return units.unit_to_model(torch.full_like(photos, level))
    if name == "blur":
        from torchvision.transforms.functional import gaussian_blur

        sigma = max(photos.shape[-2:]) / 20
        k = int(2 * round(3 * sigma) + 1)
        return units.unit_to_model(gaussian_blur(photos, [k, k], [sigma, sigma]))
    raise VizlabError(
        f"method.baseline={name!r} is not valid. Use one of {', '.join(BASELINES)} or a gray "
        "level in [0, 1] (e.g. method.baseline=0.5)."
    )


def cam_layer(model: VisionModel, name: str | None, target_layer: str | None = None) -> str:
    """``method.layer`` validated against the model, or the default CAM layer. For a unit
    target (``target_layer``) the default must run before the unit: if it does not, a ViT
    uses the input of the target block's attention (``blocks.i.norm1``), a CNN the target's
    own layer."""
    if name is None:
        try:
            name = default_cam_layer(model.module, model.spec.size)
        except ValueError as err:
            raise VizlabError(
                f"Could not find a default CAM layer for {model.name} ({err}). Pass "
                "method.layer=<module path>; `vizlab layers` lists them with shapes."
            ) from err
        if target_layer is not None and model.depth(name) > model.depth(target_layer):
            block = f"{target_layer}.norm1"
            name = block if model.is_vit and block in model.layer_names else target_layer
        return name
    name = str(name)
    if name not in model.layer_names:
        hint = nearest(name, model.layer_names)
        raise VizlabError(
            f"method.layer='{name}' is not a layer of {model.name}. Nearest valid names: "
            f"{format_choices(hint) or format_choices(model.layer_names)}. Any dotted path from "
            "model.named_modules() works; `vizlab layers` lists them with shapes."
        )
    model.resolve(name)
    return name
