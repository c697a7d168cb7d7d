"""The typed ``model`` config: which network to build and how its input is normalized.

A model is a timm name (``name``), a hand-built representation (``hog``, ``hogb``,
``dsift``), or any PyTorch model built by a factory (``_target_: my_pkg.build`` called with
``kwargs``). ``input`` gives the input spec of a model without timm's pretrained config;
the YAML files in ``conf/model/`` hold the values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig

from vizlab.schema import check_choice, check_positive, require, typed

CHANNELS_LAST = ("auto", True, False)


@dataclass
class InputConfig:
    """How a model wants its input: ``size`` (an int or [height, width]), and ``mean`` and
    ``std`` per channel in the model's own value ``range`` (``[0, 1]`` for torchvision and
    timm, ``[0, 255]`` for Caffe-style models)."""

    size: Any = 224
    mean: list[float] = field(default_factory=lambda: [0.485, 0.456, 0.406])
    std: list[float] = field(default_factory=lambda: [0.229, 0.224, 0.225])
    range: list[float] = field(default_factory=lambda: [0.0, 1.0])
    interpolation: str = "bicubic"
    crop_pct: float = 0.875

    def __post_init__(self) -> None:
        size = [self.size] if isinstance(self.size, int) else list(self.size)
        require(
            len(size) in (1, 2) and all(isinstance(s, int) and s > 0 for s in size),
            "input.size",
            self.size,
            "must be a positive whole number or [height, width]",
        )
        require(len(self.mean) == 3, "input.mean", self.mean, "must hold 3 numbers (R, G, B)")
        require(len(self.std) == 3, "input.std", self.std, "must hold 3 numbers (R, G, B)")
        for i, s in enumerate(self.std):
            check_positive(f"input.std[{i}]", s)
        require(
            len(self.range) == 2 and self.range[1] > self.range[0],
            "input.range",
            self.range,
            "must be [low, high] with low < high, e.g. [0, 1] or [0, 255]",
        )
        check_choice("input.interpolation", self.interpolation, ("bicubic", "bilinear", "nearest"))
        check_positive("input.crop_pct", self.crop_pct)

    @property
    def hw(self) -> tuple[int, int]:
        h, w = (self.size, self.size) if isinstance(self.size, int) else self.size
        return int(h), int(w)


@dataclass
class ModelConfig:
    """The ``model`` node. ``_target_`` names a factory (``my_pkg.build``) called with
    ``kwargs``; without it ``name`` is a timm model or ``hog``/``hogb``/``dsift``."""

    name: str
    pretrained: bool = False
    offline_weights: bool = False
    checkpoint: str | None = None
    init_seed: int | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    channels_last: Any = "auto"
    _target_: str | None = None
    input: InputConfig | None = None

    def __post_init__(self) -> None:
        check_choice("channels_last", self.channels_last, CHANNELS_LAST)
        require(bool(self.name), "name", self.name, "must name the model (e.g. resnet18)")
        if self._target_ is not None:
            require(
                "." in self._target_,
                "_target_",
                self._target_,
                "must be the dotted path of a function or class that returns an nn.Module, "
                "e.g. torchvision.models.resnet18",
            )
            for key in ("pretrained", "offline_weights"):
                require(
                    not getattr(self, key),
                    key,
                    True,
                    "applies to timm models only; a factory (_target_) loads its own weights "
                    "through model.kwargs (e.g. model.kwargs.weights=DEFAULT for torchvision), "
                    "or use model.checkpoint=/path/to/state_dict",
                )


def validate_model(node: DictConfig | dict | None, prefix: str = "model") -> ModelConfig:
    """``node`` checked against :class:`ModelConfig`; a bad key or value is a VizlabError
    naming it and what is valid."""
    return typed(ModelConfig, node, prefix)
