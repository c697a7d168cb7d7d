"""Checks shared by the options of the texture, style-transfer and fast-style methods."""

from __future__ import annotations

from typing import Any

from vizlab.schema import check_choice, check_positive, require
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
