"""The energy of one step and its finiteness check.

Checking costs nothing extra per step: the engine already reads the mean energy as a Python
float for its history, and a NaN or inf in any term or pixel makes that mean non-finite. Only
then are the terms examined one by one to name the culprit.
"""

from __future__ import annotations

import math

import torch

from vizlab.errors import NonFiniteError


def first_non_finite(x: torch.Tensor, data: torch.Tensor, terms: dict[str, torch.Tensor]) -> str:
    """The name of the first non-finite quantity: the image, the data term or a penalty."""
    if not bool(torch.isfinite(x.detach()).all()):
        return "image"
    if not bool(torch.isfinite(data.detach()).all()):
        return "data"
    for name, value in terms.items():
        if not bool(torch.isfinite(value.detach()).all()):
            return name
    return "C * data"


def check_finite(
    step: int,
    energy_mean: float,
    x: torch.Tensor,
    data: torch.Tensor,
    terms: dict[str, torch.Tensor],
) -> None:
    """Raise :class:`NonFiniteError` naming ``step`` and the term when the energy is NaN/inf."""
    if math.isfinite(energy_mean):
        return
    term = first_non_finite(x, data, terms)
    raise NonFiniteError(
        f"The optimization went non-finite at step {step}: the {term!r} "
        f"{'is' if term == 'image' else 'term is'} NaN or infinite (energy={energy_mean}). "
        "Lower the learning rate (optimizer.lr, or param.optimizer.lr for fourier/maco), use "
        "a finite positive method.C, and check the regularizers' constants (alpha, beta, V, "
        "B > 0)."
    )
