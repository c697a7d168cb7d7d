"""Adversarial examples (lecture 21.7): FGSM, BIM, PGD and Carlini-Wagner L2 over the
reference images, or one universal perturbation for all of them, untargeted or targeted,
with perturbation norms, confidences and transfer of the adversarial images to other
(offline) models."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import torch
from omegaconf import DictConfig

from vizlab.attacks import as_classifier, check_norm, perturbation_norms, run_attack
from vizlab.attacks.universal import universal_delta
from vizlab.errors import VizlabError
from vizlab.methods.base import Method, Result, RunContext
from vizlab.metrics import topk_labels
from vizlab.metrics.transfer import model_logits, transfer_model, transfer_model_names
from vizlab.models.wrapper import VisionModel
from vizlab.plotting import grid, labelled_grid

DEFAULT_EPS = {"linf": 4 / 255, "l2": 1.0}


def parse_fraction(value: Any, option: str, example: str) -> float:
    """A positive number from the config: a number or a fraction such as ``4/255``."""
    try:
        number = float(Fraction(str(value).replace(" ", "")))
    except (ValueError, ZeroDivisionError):
        number = -1.0
    if not number > 0:
        raise VizlabError(
            f"{option}={value!r} is not a positive number. Give a number in [0, 1] pixel "
            f"units or a fraction, e.g. {example}."
        )
    return number


def parse_eps(value: Any, norm: str) -> float:
    """``method.eps`` as a float: a number, a fraction such as ``4/255``, or null (default)."""
    if value is None:
        return DEFAULT_EPS[norm]
    return parse_fraction(value, "method.eps", "method.eps=4/255 (L_inf) or method.eps=1.0 (L2)")


def _target(value: Any, model: VisionModel) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or not 0 <= value < model.num_classes:
        raise VizlabError(
            f"method.target_class={value!r} is not a class of {model.name}. Give an integer in "
            f"[0, {model.num_classes - 1}] (e.g. 309 = bee for ImageNet), or null for an "
            "untargeted attack."
        )
    return value


def _knobs(cfg: DictConfig, attack: str, norm: str, eps: float | None, ctx: RunContext) -> dict:
    if attack == "cw":
        cw = cfg.get("cw") or {}
        return dict(
            c=float(cw.get("c", 1.0)),
            kappa=float(cw.get("kappa", 0.0)),
            steps=int(cw.get("steps", 50)),
            lr=float(cw.get("lr", 0.001)),
            binary_search_steps=int(cw.get("binary_search_steps", 1)),
            progress=ctx.progress,
        )
    knobs: dict[str, Any] = dict(eps=eps, norm=norm)
    if attack in ("bim", "pgd", "universal"):
        step = cfg.get("step_size")
        if step is not None:
            step = parse_fraction(step, "method.step_size", "method.step_size=1/255")
        knobs.update(steps=int(cfg.steps), step_size=step, progress=ctx.progress)
    if attack == "pgd":
        knobs.update(random_start=bool(cfg.get("random_start", True)), generator=ctx.generator())
    if attack == "universal":
        knobs.update(batch_size=max(1, int(cfg.get("batch_size", 16))))
    return knobs


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


def perturbation_gain(amplify: Any, delta: torch.Tensor) -> torch.Tensor:
    """Per image, the factor of the shown perturbation 0.5 + gain * delta: ``method.amplify``
    if set, else (null) the gain that maps the image's largest |delta| to 0.45, so that small
    perturbations (Carlini-Wagner: well under 1/255 on some images) stay visible."""
    if amplify is not None:
        gain = parse_fraction(amplify, "method.amplify", "method.amplify=10, or null for auto")
        return torch.full((delta.shape[0],), gain)
    peak = delta.detach().flatten(1).abs().amax(1).cpu()
    return torch.where(peak > 0, 0.45 / peak.clamp_min(1e-12), torch.ones_like(peak))


def _radius_text(metrics: dict[str, Any]) -> str:
    if "eps_255" in metrics:
        return f", eps {metrics['eps_255']:.3g}/255"
    return f", eps {metrics['eps']:.3g}" if "eps" in metrics else ""


class Adversarial(Method):
    name = "adversarial"
    description = "FGSM / BIM / PGD / Carlini-Wagner / universal adversarial examples, transfer"

    def run(self, ctx: RunContext) -> Result:
        cfg, model = ctx.method_cfg, ctx.model
        attack = str(cfg.attack)
        norm = "l2" if attack == "cw" else check_norm(str(cfg.get("norm", "linf")))
        eps = parse_eps(cfg.get("eps"), norm) if attack != "cw" else None
        target = _target(cfg.get("target_class"), model)
        knobs = _knobs(cfg, attack, norm, eps, ctx)
        classify = as_classifier(model)
        refs = ctx.references
        x = refs.images.to(ctx.device)
        with torch.no_grad():
            clean_logits = classify(x)
        labels = clean_logits.argmax(-1)
        if attack == "universal":
            x_adv, fit = self._universal(cfg, model, x, labels, target, knobs)
        else:
            batch = max(1, int(cfg.get("batch_size", 16)))
            x_adv = torch.cat(
                [
                    run_attack(
                        attack,
                        model,
                        x[i : i + batch],
                        labels=labels[i : i + batch],
                        target=target,
                        **knobs,
                    )
                    for i in range(0, len(x), batch)
                ]
            )
        with torch.no_grad():
            adv_logits = classify(x_adv)
        metrics = self._metrics(attack, norm, eps, target, clean_logits, adv_logits, x, x_adv)
        if attack == "universal":
            metrics.update(universal_split_metrics(fit, labels, adv_logits.argmax(-1), target))
            metrics["universal_heldout"] = [n for n, f in zip(refs.names, fit.tolist()) if not f]
        metrics["num_images"] = len(refs)
        for i, name in enumerate(refs.names):
            metrics[f"{name}_clean_top5"] = topk_labels(clean_logits[i : i + 1])[0]
            metrics[f"{name}_adv_top5"] = topk_labels(adv_logits[i : i + 1])[0]
        adv_pred = adv_logits.argmax(-1).cpu()
        for other_name in transfer_model_names(ctx):
            other = transfer_model(other_name, ctx.device, cfg.get("transfer_size"))
            metrics.update(
                adversarial_transfer(
                    other_name, other, x.cpu(), x_adv.cpu(), labels.cpu(), adv_pred, target
                )
            )
        return self._result(ctx, x, x_adv, clean_logits, adv_logits, metrics)

    @staticmethod
    def _universal(cfg, model, x, labels, target, knobs) -> tuple[torch.Tensor, torch.Tensor]:
        """One perturbation fitted on the first (1 - holdout) of the images, added to all;
        returns the adversarial images and the mask of the images it was fitted on."""
        holdout = float((cfg.get("universal") or {}).get("holdout", 0.3))
        if not 0.0 <= holdout < 1.0:
            raise VizlabError(
                f"method.universal.holdout={holdout} must be in [0, 1): the fraction of the "
                "images kept out of fitting the universal perturbation (e.g. 0.3; 0 = none)."
            )
        n_fit = max(1, round(len(x) * (1 - holdout)))
        delta = universal_delta(model, x[:n_fit], labels[:n_fit], target=target, **knobs)
        fit = torch.arange(len(x), device=x.device) < n_fit
        return (x + delta).clamp(0, 1), fit

    @staticmethod
    def _metrics(attack, norm, eps, target, clean_logits, adv_logits, x, x_adv) -> dict:
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

    @staticmethod
    def _result(ctx, x, x_adv, clean_logits, adv_logits, metrics) -> Result:
        delta = x_adv - x
        gain = perturbation_gain(ctx.method_cfg.get("amplify"), delta)
        shown = (0.5 + gain.to(delta).view(-1, 1, 1, 1) * delta).clamp(0, 1)
        rows = torch.stack([x, shown, x_adv], 1).flatten(0, 1).cpu()
        norms = perturbation_norms(delta)
        clean_top = topk_labels(clean_logits, 1)
        adv_top = topk_labels(adv_logits, 1)
        labels = []
        held_out = set(metrics.get("universal_heldout", []))
        for i, name in enumerate(ctx.references.names):
            labels += [
                f"{name}{' (held out)' if name in held_out else ''}\n{clean_top[i][0]}",
                f"delta x{gain[i]:.3g}\n"
                f"Linf {255 * norms['linf'][i]:.1f}/255, L2 {norms['l2'][i]:.2f}",
                f"adversarial\n{adv_top[i][0]}",
            ]
        title = (
            f"{metrics['attack']} ({metrics['norm']}"
            + _radius_text(metrics)
            + (f", target {metrics['target_class']}" if metrics["targeted"] else ", untargeted")
            + f") on {ctx.model.name}: success {100 * metrics['success_rate']:.0f}%"
        )
        return Result(
            images={"adversarial": grid(rows, nrow=3)},
            metrics=metrics,
            figures={"adversarial_labelled": labelled_grid(rows, labels, 3, title, 2.6)},
            tensors={"adversarial": x_adv.cpu(), "perturbation": delta.cpu()},
        )
