"""Adversarial attacks on classifiers in [0, 1] pixel space (lecture 21.7): FGSM, BIM,
PGD with random start (L_inf and L2) and Carlini-Wagner L2, batched over images, and one
universal perturbation for a whole image set."""

from __future__ import annotations

from typing import Any

import torch

from vizlab.attacks.core import (
    NORMS,
    as_classifier,
    attack_loss,
    check_norm,
    perturbation_norms,
    project,
    project_linf,
    random_in_ball,
)
from vizlab.attacks.cw import cw_l2, margin
from vizlab.attacks.gradient import bim, fgsm, iterative_attack, pgd
from vizlab.attacks.universal import universal
from vizlab.errors import VizlabError, format_choices, nearest

ATTACKS = {"fgsm": fgsm, "bim": bim, "pgd": pgd, "cw": cw_l2, "universal": universal}
"""Attack name -> function(model, x, labels=None, **knobs) -> adversarial images."""


def get_attack(name: str):
    """The attack function called ``name`` (a clear error for unknown names)."""
    if name not in ATTACKS:
        hint = nearest(name, ATTACKS)
        raise VizlabError(
            f"method.attack={name!r} is not an attack. Valid: {format_choices(ATTACKS)}"
            + (f" (did you mean {hint[0]}?)" if hint else "")
            + "."
        )
    return ATTACKS[name]


def run_attack(name: str, model: Any, x: torch.Tensor, **knobs: Any) -> torch.Tensor:
    """Run attack ``name`` on the batch ``x`` (N x 3 x H x W in [0, 1])."""
    return get_attack(name)(model, x, **knobs)


__all__ = [
    "ATTACKS",
    "NORMS",
    "as_classifier",
    "attack_loss",
    "check_norm",
    "bim",
    "cw_l2",
    "fgsm",
    "get_attack",
    "iterative_attack",
    "margin",
    "perturbation_norms",
    "pgd",
    "project",
    "project_linf",
    "random_in_ball",
    "run_attack",
    "universal",
]
