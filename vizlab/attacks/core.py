"""Shared pieces of the attacks: a classifier on [0, 1] pixels, the attack loss, norm-ball
steps and projections. Every attack works in unit pixel space (RGB in [0, 1]); the model's
own input normalization is applied inside :func:`as_classifier`."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from vizlab.errors import VizlabError
from vizlab.models.wrapper import VisionModel

Classifier = Callable[[torch.Tensor], torch.Tensor]
"""Images N x 3 x H x W in [0, 1] -> logits N x K."""

NORMS = ("linf", "l2")


def as_classifier(model: VisionModel | Classifier) -> Classifier:
    """Logits of unit-space images: a :class:`VisionModel` gets its normalization applied
    (``units.unit_to_model``); any other callable is used as it is."""
    if isinstance(model, VisionModel):
        return lambda x: model.logits(model.units.unit_to_model(x))
    return model


def check_norm(norm: str) -> str:
    if norm not in NORMS:
        raise VizlabError(
            f"method.norm={norm!r} is not a supported perturbation norm. Valid: linf (FGSM, BIM, "
            "PGD with an L_inf ball) or l2 (PGD-L2, FGM/BIM-L2; cw is always L2)."
        )
    return norm


def resolve_labels(
    classify: Classifier,
    x: torch.Tensor,
    labels: torch.Tensor | None,
    target: int | torch.Tensor | None,
) -> tuple[torch.Tensor, bool]:
    """The class each image is pushed towards (targeted) or away from (untargeted, default:
    the model's own clean prediction), and whether the attack is targeted."""
    if target is not None:
        t = torch.as_tensor(target, device=x.device, dtype=torch.long)
        return t.expand(x.shape[0]).clone() if t.ndim == 0 else t, True
    if labels is None:
        with torch.no_grad():
            labels = classify(x).argmax(-1)
    return labels.to(x.device), False


def attack_loss(logits: torch.Tensor, labels: torch.Tensor, targeted: bool) -> torch.Tensor:
    """Per-image loss the attacker ascends: cross-entropy of the true label (untargeted,
    Goodfellow et al. 2015) or minus the cross-entropy of the target (targeted)."""
    ce = F.cross_entropy(logits, labels, reduction="none")
    return -ce if targeted else ce


def input_gradient(
    classify: Classifier, x: torch.Tensor, labels: torch.Tensor, targeted: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """d loss / d x (per image) and the per-image loss at ``x`` (also inside ``no_grad``)."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        loss = attack_loss(classify(x), labels, targeted)
        (grad,) = torch.autograd.grad(loss.sum(), x)
    return grad, loss.detach()


def _per_image_norm(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).norm(dim=1).view(-1, *([1] * (t.ndim - 1)))


def ascent_step(grad: torch.Tensor, step_size: float, norm: str) -> torch.Tensor:
    """Steepest-ascent step of the given size: sign(g) for L_inf, g/||g||_2 for L2."""
    if norm == "linf":
        return step_size * grad.sign()
    return step_size * grad / _per_image_norm(grad).clamp_min(1e-12)


def project_linf(delta: torch.Tensor, eps: float | torch.Tensor) -> torch.Tensor:
    """Projection onto the L_inf ball of radius ``eps`` (a number, or a tensor that broadcasts
    against ``delta`` for per-image or per-channel radii): elementwise clipping to [-eps, eps]."""
    if torch.is_tensor(eps):
        return torch.maximum(torch.minimum(delta, eps), -eps)
    return delta.clamp(-eps, eps)


def project(delta: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """Projection onto the eps-ball of the norm (per image)."""
    if norm == "linf":
        return project_linf(delta, eps)
    factor = (eps / _per_image_norm(delta).clamp_min(1e-12)).clamp(max=1.0)
    return delta * factor


def random_in_ball(
    x: torch.Tensor, eps: float, norm: str, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A uniform random point of the eps-ball (PGD's random start, Madry et al. 2018)."""
    shape, n = x.shape, x[0].numel()
    if norm == "linf":
        u = torch.rand(shape, generator=generator)
        return ((2 * u - 1) * eps).to(x)
    direction = torch.randn(shape, generator=generator)
    direction = direction / _per_image_norm(direction)
    radius = torch.rand(shape[0], generator=generator).pow(1.0 / n).view(-1, 1, 1, 1)
    return (eps * radius * direction).to(x)


def perturbation_norms(delta: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-image L_inf and L2 norms of a perturbation in [0, 1] pixel units."""
    flat = delta.detach().flatten(1)
    return {"linf": flat.abs().amax(1), "l2": flat.norm(dim=1)}
