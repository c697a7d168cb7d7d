"""Universal adversarial perturbations (Moosavi-Dezfooli, Fawzi, Fawzi & Frossard 2017): one
perturbation delta, ||delta|| <= eps, that changes the class of most images of a set.

The paper builds delta by accumulating per-image DeepFool steps; we optimize the same
objective directly, as Shafahi et al. (2020, "Universal adversarial training", Alg. 1 without
the training of the network) do: projected steepest ascent on the mean attack loss over the
whole set, delta <- Pi_eps(delta + alpha * step(sum_i grad_x L(clip(x_i + delta), y_i))),
with each image clipped to [0, 1]. It is one loop over the set per step (in batches of
``batch_size``), so it scales like PGD on the same images and needs no DeepFool inner solver.
Targeted: every image is pushed towards the same class.
"""

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
    resolve_labels,
)
from vizlab.attacks.gradient import check_schedule
from vizlab.errors import VizlabError
from vizlab.models.wrapper import VisionModel


def universal_delta(
    model: VisionModel | Classifier,
    x: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    eps: float,
    steps: int = 10,
    step_size: float | None = None,
    norm: str = "linf",
    target: int | torch.Tensor | None = None,
    batch_size: int = 16,
    progress: bool = False,
) -> torch.Tensor:
    """The perturbation (1 x 3 x H x W) shared by the images ``x`` (N x 3 x H x W in [0, 1]);
    the step alpha is 2.5 eps / steps by default, as for PGD."""
    check_norm(norm)
    step_size = check_schedule(eps, steps, step_size)
    if int(batch_size) < 1:
        raise VizlabError(f"method.batch_size={batch_size!r} must be a positive integer.")
    classify = as_classifier(model)
    x = x.detach()
    labels, targeted = resolve_labels(classify, x, labels, target)
    delta = torch.zeros_like(x[:1])
    for _ in tqdm(range(int(steps)), desc="universal", disable=not progress, leave=False):
        total = torch.zeros_like(delta)
        for start in range(0, x.shape[0], int(batch_size)):
            part = slice(start, start + int(batch_size))
            adv = (x[part] + delta).clamp(0, 1)
            grad, _ = input_gradient(classify, adv, labels[part], targeted)
            total += grad.sum(0, keepdim=True)
        delta = project(delta + ascent_step(total, step_size, norm), eps, norm)
    return delta.detach()


def universal(
    model: VisionModel | Classifier,
    x: torch.Tensor,
    labels: torch.Tensor | None = None,
    **knobs,
) -> torch.Tensor:
    """The images ``x`` plus the universal perturbation of ``x`` itself, clipped to [0, 1]
    (knobs as :func:`universal_delta`)."""
    return (x + universal_delta(model, x, labels, **knobs)).clamp(0, 1)
