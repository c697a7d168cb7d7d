"""Gradient attacks: FGSM (Goodfellow et al. 2015), BIM / I-FGSM (Kurakin et al. 2017) and PGD
with a random start (Madry et al. 2018), for L_inf and L2 balls, batched over images. All three
are one loop, :func:`pgd`: FGSM is one step of size eps from x, BIM is PGD without the random
start."""

from __future__ import annotations

from typing import Any

import torch
from tqdm.auto import tqdm

from vizlab.attacks.core import (
    Classifier,
    as_classifier,
    ascent_step,
    check_norm,
    input_gradient,
    project,
    random_in_ball,
    resolve_labels,
)
from vizlab.errors import VizlabError
from vizlab.models.wrapper import VisionModel


def check_schedule(eps: float, steps: int, step_size: float | None) -> float:
    """The step size (default 2.5 eps / steps, Madry et al.) after checking the schedule."""
    if step_size is None:
        step_size = 2.5 * eps / max(int(steps), 1)
    if not (eps > 0 and step_size > 0 and int(steps) >= 1):
        raise VizlabError(
            f"The attack got eps={eps!r}, steps={steps!r}, step_size={step_size!r}; it needs a "
            "positive radius (method.eps, e.g. 4/255), at least one step (method.steps) and a "
            "positive step size (method.step_size, or null for 2.5 * eps / steps)."
        )
    return step_size


def pgd(
    model: VisionModel | Classifier,
    x: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    eps: float,
    steps: int = 10,
    step_size: float | None = None,
    norm: str = "linf",
    target: int | torch.Tensor | None = None,
    random_start: bool = True,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Projected gradient descent (Madry et al. 2018, eq. 2.1):
    x_{t+1} = Clip_[0,1]( Pi_{B(x, eps)}( x_t + alpha * step(grad_x L(x_t, y)) ) ), step = sign
    for L_inf and g / ||g||_2 for L2, started at a uniform random point of the eps-ball. The
    step alpha is 2.5 eps / steps by default (Madry et al.'s choice: any point of the ball is
    reachable from the start). Targeted: descend the target's cross-entropy instead."""
    check_norm(norm)
    step_size = check_schedule(eps, steps, step_size)
    classify = as_classifier(model)
    x = x.detach()
    labels, targeted = resolve_labels(classify, x, labels, target)
    delta = torch.zeros_like(x)
    if random_start:
        delta = project(random_in_ball(x, eps, norm, generator), eps, norm)
        delta = (x + delta).clamp(0, 1) - x
    desc = "pgd" if random_start else "bim"
    for _ in tqdm(range(steps), desc=desc, disable=not progress or steps < 2, leave=False):
        grad, _ = input_gradient(classify, x + delta, labels, targeted)
        delta = project(delta + ascent_step(grad, step_size, norm), eps, norm)
        delta = (x + delta).clamp(0, 1) - x  # stay a valid image
    return (x + delta).detach()


iterative_attack = pgd
"""The common loop of FGSM, BIM and PGD (an alias of :func:`pgd`)."""


def bim(
    model: VisionModel | Classifier,
    x: torch.Tensor,
    labels: torch.Tensor | None = None,
    **knobs: Any,
) -> torch.Tensor:
    """Basic iterative method / I-FGSM (Kurakin et al. 2017, eq. 1): X_0 = X,
    X_{N+1} = Clip_{X,eps}( X_N + alpha * sign(grad_X J(X_N, y_true)) ), i.e. :func:`pgd`
    (same knobs) without the random start."""
    return pgd(model, x, labels, **knobs, random_start=False)


def fgsm(
    model: VisionModel | Classifier,
    x: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    eps: float,
    norm: str = "linf",
    target: int | torch.Tensor | None = None,
) -> torch.Tensor:
    """Fast gradient sign method (Goodfellow et al. 2015, eq. 3):
    x + eps * sign(grad_x J(theta, x, y)), clipped to [0, 1] (targeted: x - eps *
    sign(grad_x J(x, t))). With ``norm='l2'`` the fast gradient method x + eps * g / ||g||_2."""
    return pgd(
        model,
        x,
        labels,
        eps=eps,
        steps=1,
        step_size=eps,
        norm=norm,
        target=target,
        random_start=False,
    )
