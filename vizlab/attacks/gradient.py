"""Gradient-sign attacks: FGSM (Goodfellow et al. 2015), BIM / I-FGSM (Kurakin et al. 2017)
and PGD with a random start (Madry et al. 2018), for L_inf and L2 balls, batched over images."""

from __future__ import annotations

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
from vizlab.models.wrapper import VisionModel


def iterative_attack(
    model: VisionModel | Classifier,
    x: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    eps: float,
    steps: int,
    step_size: float,
    norm: str = "linf",
    target: int | torch.Tensor | None = None,
    random_start: bool = False,
    generator: torch.Generator | None = None,
    progress: bool = False,
    desc: str = "attack",
) -> torch.Tensor:
    """x_{t+1} = Clip_[0,1]( Pi_{B(x, eps)}( x_t + alpha * step(grad loss) ) ), the common loop
    of FGSM (1 step of size eps), BIM (no random start) and PGD (random start)."""
    check_norm(norm)
    classify = as_classifier(model)
    x = x.detach()
    labels, targeted = resolve_labels(classify, x, labels, target)
    delta = torch.zeros_like(x)
    if random_start:
        delta = project(random_in_ball(x, eps, norm, generator), eps, norm)
        delta = (x + delta).clamp(0, 1) - x
    for _ in tqdm(range(steps), desc=desc, disable=not progress or steps < 2, leave=False):
        grad, _ = input_gradient(classify, x + delta, labels, targeted)
        delta = project(delta + ascent_step(grad, step_size, norm), eps, norm)
        delta = (x + delta).clamp(0, 1) - x  # stay a valid image
    return (x + delta).detach()


def fgsm(
    model: VisionModel | Classifier,
    x: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    eps: float,
    norm: str = "linf",
    target: int | torch.Tensor | None = None,
) -> torch.Tensor:
    """Fast gradient sign method: x + eps * sign(grad_x J(x, y)), clipped to [0, 1]
    (targeted: x - eps * sign(grad_x J(x, t))). With ``norm='l2'`` the fast gradient method
    x + eps * g / ||g||_2."""
    return iterative_attack(
        model, x, labels, eps=eps, steps=1, step_size=eps, norm=norm, target=target
    )


def bim(
    model: VisionModel | Classifier,
    x: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    eps: float,
    steps: int = 10,
    step_size: float | None = None,
    norm: str = "linf",
    target: int | torch.Tensor | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Basic iterative method / I-FGSM: FGSM steps of size alpha (default 2.5 eps / steps),
    each followed by clipping to the eps-ball and [0, 1]; starts at x."""
    return iterative_attack(
        model,
        x,
        labels,
        eps=eps,
        steps=steps,
        step_size=step_size or 2.5 * eps / steps,
        norm=norm,
        target=target,
        progress=progress,
        desc="bim",
    )


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
    """Projected gradient descent (Madry et al. 2018): BIM started from a uniform random point
    of the eps-ball; step alpha = 2.5 eps / steps by default."""
    return iterative_attack(
        model,
        x,
        labels,
        eps=eps,
        steps=steps,
        step_size=step_size or 2.5 * eps / steps,
        norm=norm,
        target=target,
        random_start=random_start,
        generator=generator,
        progress=progress,
        desc="pgd",
    )
