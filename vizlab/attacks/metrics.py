"""What an attack did: success, perturbation norms and confidences, the transfer of the
adversarial images to other models, the fit / held-out split of a universal perturbation,
and the gain that makes a perturbation visible."""

from __future__ import annotations

from typing import Any

import torch

from vizlab.attacks.core import perturbation_norms
from vizlab.metrics.transfer import model_logits
from vizlab.models.wrapper import VisionModel


def attack_metrics(
    attack: str,
    norm: str,
    eps: float | None,
    target: int | None,
    clean_logits: torch.Tensor,
    adv_logits: torch.Tensor,
    x: torch.Tensor,
    x_adv: torch.Tensor,
) -> dict[str, Any]:
    """Success rate, perturbation norms and confidences of an attack on images ``x`` (the
    photos have no ground truth: the clean class is the model's clean top-1)."""
    labels = clean_logits.argmax(-1)
    adv_pred = adv_logits.argmax(-1)
    probs = adv_logits.softmax(-1)
    success = adv_pred == target if target is not None else adv_pred != labels
    norms = perturbation_norms(x_adv - x)
    metrics: dict[str, Any] = {
        "attack": attack,
        "norm": norm,
        "targeted": target is not None,
        "target_class": -1 if target is None else target,
        "success_rate": success.float().mean().item(),
        "linf_mean": norms["linf"].mean().item(),
        "linf_max": norms["linf"].max().item(),
        "linf_mean_255": 255 * norms["linf"].mean().item(),
        "l2_mean": norms["l2"].mean().item(),
        "l2_max": norms["l2"].max().item(),
        "clean_confidence_mean": clean_logits.softmax(-1).amax(-1).mean().item(),
        "adv_class_confidence_mean": probs.amax(-1).mean().item(),
        # the photos have no ground truth: "clean class" = the model's clean top-1
        "clean_class_prob_after_mean": probs.gather(1, labels[:, None]).mean().item(),
    }
    if eps is not None:  # cw has no radius: it minimizes the L2 norm
        metrics["eps"] = eps
        if norm == "linf":
            metrics["eps_255"] = 255 * eps
    if success.any():
        metrics["l2_mean_successful"] = norms["l2"][success].mean().item()
    if target is not None:
        metrics["target_prob_mean"] = probs[:, target].mean().item()
    return metrics


def adversarial_transfer(
    name: str,
    other: VisionModel,
    x: torch.Tensor,
    x_adv: torch.Tensor,
    labels: torch.Tensor,
    adv_pred: torch.Tensor,
    target: int | None,
) -> dict[str, float]:
    """How the adversarial images fare on another model (resized to its input size).

    With the attacked model's clean top-1 as the label (no ground truth for the photos):
    clean_agreement = other(x) == label; adv_accuracy = other(x_adv) == label;
    fooling_rate = other(x_adv) != other(x) (the transfer success of an untargeted attack);
    adv_class_rate = other(x_adv) == the attacked model's adversarial class != other(x) (the
    other model is moved to the same wrong class; images it already put in that class before
    the attack do not count -- with clean agreement well below 1 they would inflate the rate);
    target_rate = other(x_adv) == target != other(x) (the transfer success of a targeted
    attack, likewise).
    """
    clean = model_logits(other, x).argmax(-1)
    adv = model_logits(other, x_adv).argmax(-1)

    def moved_to(cls: torch.Tensor | int) -> torch.Tensor:
        return (adv == cls) & (clean != cls)

    out = {
        f"transfer_{name}_clean_agreement": (clean == labels).float().mean().item(),
        f"transfer_{name}_adv_accuracy": (adv == labels).float().mean().item(),
        f"transfer_{name}_fooling_rate": (adv != clean).float().mean().item(),
        f"transfer_{name}_adv_class_rate": moved_to(adv_pred).float().mean().item(),
    }
    if target is not None:
        out[f"transfer_{name}_target_rate"] = moved_to(target).float().mean().item()
    return out


def universal_split_metrics(
    fit: torch.Tensor, labels: torch.Tensor, adv_pred: torch.Tensor, target: int | None
) -> dict[str, Any]:
    """Success of a universal perturbation on the images it was fitted on and on the held-out
    ones (the number Moosavi-Dezfooli et al. report: the fooling rate on unseen images)."""
    success = adv_pred == target if target is not None else adv_pred != labels
    out: dict[str, Any] = {
        "universal_fit_images": int(fit.sum()),
        "universal_success_rate_fit": success[fit].float().mean().item(),
    }
    if (~fit).any():
        out["universal_heldout_images"] = int((~fit).sum())
        out["universal_success_rate_heldout"] = success[~fit].float().mean().item()
    return out


def perturbation_gain(amplify: float | None, delta: torch.Tensor) -> torch.Tensor:
    """Per image, the factor of the shown perturbation 0.5 + gain * delta: ``amplify`` if
    given, else the gain that maps the image's largest |delta| to 0.45, so that small
    perturbations (Carlini-Wagner: well under 1/255 on some images) stay visible."""
    if amplify is not None:
        return torch.full((delta.shape[0],), float(amplify))
    peak = delta.detach().flatten(1).abs().amax(1).cpu()
    return torch.where(peak > 0, 0.45 / peak.clamp_min(1e-12), torch.ones_like(peak))
