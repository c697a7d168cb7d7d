"""Checks shared by the options of the texture, style-transfer and fast-style methods."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vizlab.schema import check_choice, check_positive, check_range, require
from vizlab.style.optimize import OPTIMIZERS


def check_layers(key: str, value: Any) -> None:
    """``auto``/None or a non-empty list of layer names (checked against the model later)."""
    require(
        value in (None, "auto") or (isinstance(value, list) and len(value) > 0),
        key,
        value,
        "must be auto or a list of module names from shallow to deep, e.g. [layer1, layer2]",
    )


def check_optimization(options: Any) -> None:
    """``optimizer``, ``lr`` and ``iterations`` of an image optimization."""
    check_choice("optimizer", options.optimizer, OPTIMIZERS)
    check_positive("lr", options.lr)
    check_positive("iterations", options.iterations, integer=True)


def optimization(options: Any) -> dict[str, Any]:
    """The keyword arguments ``optimizer``, ``iterations`` and ``lr`` of
    :func:`vizlab.style.optimize.optimize_timed` from a method's options."""
    return dict(optimizer=options.optimizer, iterations=options.iterations, lr=options.lr)


@dataclass
class PerceptualOptions:
    """The style image and the perceptual loss alpha L_content + beta L_style + TV of style
    transfer (Gatys et al. 2016) and fast style transfer (Johnson et al. 2016)."""

    name: str
    style: str
    style_size: int | None
    style_layers: Any  # auto or a list of layer names
    style_layer_weights: list[float] | None
    content_layers: Any  # auto or a list of layer names
    content_weight: float
    style_weight: float
    tv_weight: float
    seed: int

    def __post_init__(self) -> None:
        if self.style_size is not None:
            check_positive("style_size", self.style_size, integer=True)
        check_layers("style_layers", self.style_layers)
        check_layers("content_layers", self.content_layers)
        for key in ("content_weight", "style_weight", "tv_weight"):
            check_range(key, getattr(self, key), 0.0)
