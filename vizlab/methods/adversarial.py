"""Adversarial examples (lecture 21.7): FGSM, BIM, PGD and Carlini-Wagner L2 over the
reference images, or one universal perturbation for all of them, untargeted or targeted,
with perturbation norms, confidences and transfer of the adversarial images to other
(offline) models."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import torch

from vizlab.attacks import ATTACKS, NORMS, as_classifier, perturbation_norms, run_attack
from vizlab.attacks.metrics import (
    adversarial_transfer,
    attack_metrics,
    perturbation_gain,
    universal_split_metrics,
)
from vizlab.attacks.universal import universal_delta
from vizlab.errors import VizlabError
from vizlab.methods.base import Method, Result, RunContext
from vizlab.metrics import topk_labels
from vizlab.metrics.transfer import transfer_model, transfer_model_names
from vizlab.models.wrapper import VisionModel
from vizlab.plotting import grid, labelled_grid
from vizlab.schema import check_choice, check_positive, check_range, require

DEFAULT_EPS = {"linf": 4 / 255, "l2": 1.0}


def fraction(key: str, value: Any, example: str) -> float | None:
    """A positive number given as a number or a fraction such as ``4/255`` (None stays None)."""
    if value is None:
        return None
    try:
        number = float(Fraction(str(value).replace(" ", "")))
    except (ValueError, ZeroDivisionError):
        number = -1.0
    require(number > 0, key, value, f"must be a positive number or a fraction, e.g. {example}")
    return number


@dataclass
class CWOptions:
    """Carlini-Wagner L2 (their Sect. V.A)."""

    c: float
    kappa: float
    steps: int
    lr: float
    binary_search_steps: int

    def __post_init__(self) -> None:
        check_positive("cw.c", self.c)
        check_range("cw.kappa", self.kappa, 0.0)
        check_positive("cw.steps", self.steps, integer=True)
        check_positive("cw.lr", self.lr)
        check_positive("cw.binary_search_steps", self.binary_search_steps, integer=True)


@dataclass
class UniversalOptions:
    holdout: float  # fraction of the images kept out of fitting the perturbation

    def __post_init__(self) -> None:
        require(
            0.0 <= self.holdout < 1.0,
            "universal.holdout",
            self.holdout,
            "must be in [0, 1): the fraction of the images kept out of fitting (0 = none)",
        )


@dataclass
class AdversarialOptions:
    name: str
    attack: str
    norm: str
    eps: Any  # a number, a fraction such as 4/255, or None: 4/255 (linf) or 1.0 (l2)
    steps: int
    step_size: Any  # like eps; None: 2.5 * eps / steps (Madry et al.)
    random_start: bool
    target_class: int | None
    batch_size: int
    amplify: Any  # like eps; None: the largest |delta| of each image maps to 0.45
    transfer_models: list[str]
    transfer_size: int | None
    seed: int
    cw: CWOptions
    universal: UniversalOptions

    def __post_init__(self) -> None:
        check_choice("attack", self.attack, ATTACKS)
        check_choice("norm", self.norm, NORMS)
        self.eps = fraction("eps", self.eps, "4/255 (linf) or 1.0 (l2)")
        if self.eps is None:
            self.eps = DEFAULT_EPS["l2" if self.attack == "cw" else self.norm]
        self.step_size = fraction("step_size", self.step_size, "1/255, or null for auto")
        self.amplify = fraction("amplify", self.amplify, "10, or null for auto")
        check_positive("steps", self.steps, integer=True)
        check_positive("batch_size", self.batch_size, integer=True)
        require(
            self.target_class is None or self.target_class >= 0,
            "target_class",
            self.target_class,
            "must be a class index >= 0, or null for an untargeted attack",
        )
        if self.transfer_size is not None:
            check_positive("transfer_size", self.transfer_size, integer=True)

    def knobs(self, progress: bool, generator: torch.Generator) -> dict[str, Any]:
        """Keyword arguments of the attack function (:data:`vizlab.attacks.ATTACKS`)."""
        if self.attack == "cw":
            cw = self.cw
            return dict(
                c=cw.c,
                kappa=cw.kappa,
                steps=cw.steps,
                lr=cw.lr,
                binary_search_steps=cw.binary_search_steps,
                progress=progress,
            )
        knobs: dict[str, Any] = dict(eps=self.eps, norm=self.norm)
        if self.attack in ("bim", "pgd", "universal"):
            knobs.update(steps=self.steps, step_size=self.step_size, progress=progress)
        if self.attack == "pgd":
            knobs.update(random_start=self.random_start, generator=generator)
        if self.attack == "universal":
            knobs.update(batch_size=self.batch_size)
        return knobs


def _target(value: int | None, model: VisionModel) -> int | None:
    if value is not None and not value < model.num_classes:
        raise VizlabError(
            f"method.target_class={value!r} is not a class of {model.name}. Give an integer in "
            f"[0, {model.num_classes - 1}] (e.g. 309 = bee for ImageNet), or null for an "
            "untargeted attack."
        )
    return value


def _radius_text(metrics: dict[str, Any]) -> str:
    if "eps_255" in metrics:
        return f", eps {metrics['eps_255']:.3g}/255"
    return f", eps {metrics['eps']:.3g}" if "eps" in metrics else ""


class Adversarial(Method):
    name = "adversarial"
    description = "FGSM / BIM / PGD / Carlini-Wagner / universal adversarial examples, transfer"
    Options = AdversarialOptions

    def run(self, ctx: RunContext) -> Result:
        opts: AdversarialOptions = ctx.options
        model = ctx.model
        attack = opts.attack
        norm = "l2" if attack == "cw" else opts.norm
        eps = opts.eps if attack != "cw" else None
        target = _target(opts.target_class, model)
        knobs = opts.knobs(ctx.progress, ctx.generator())
        classify = as_classifier(model)
        refs = ctx.references
        x = refs.images.to(ctx.device)
        with torch.no_grad():
            clean_logits = classify(x)
        labels = clean_logits.argmax(-1)
        if attack == "universal":
            x_adv, fit = self._universal(opts.universal.holdout, model, x, labels, target, knobs)
        else:
            batch = opts.batch_size
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
        metrics = attack_metrics(attack, norm, eps, target, clean_logits, adv_logits, x, x_adv)
        if attack == "universal":
            metrics.update(universal_split_metrics(fit, labels, adv_logits.argmax(-1), target))
            metrics["universal_heldout"] = [n for n, f in zip(refs.names, fit.tolist()) if not f]
        metrics["num_images"] = len(refs)
        for i, name in enumerate(refs.names):
            metrics[f"{name}_clean_top5"] = topk_labels(clean_logits[i : i + 1])[0]
            metrics[f"{name}_adv_top5"] = topk_labels(adv_logits[i : i + 1])[0]
        adv_pred = adv_logits.argmax(-1).cpu()
        for other_name in transfer_model_names(opts.transfer_models, str(ctx.cfg.model.name)):
            other = transfer_model(other_name, ctx.device, opts.transfer_size)
            metrics.update(
                adversarial_transfer(
                    other_name, other, x.cpu(), x_adv.cpu(), labels.cpu(), adv_pred, target
                )
            )
        return self._result(ctx, x, x_adv, clean_logits, adv_logits, metrics)

    @staticmethod
    def _universal(holdout, model, x, labels, target, knobs) -> tuple[torch.Tensor, torch.Tensor]:
        """One perturbation fitted on the first (1 - holdout) of the images, added to all;
        returns the adversarial images and the mask of the images it was fitted on."""
        n_fit = max(1, round(len(x) * (1 - holdout)))
        delta = universal_delta(model, x[:n_fit], labels[:n_fit], target=target, **knobs)
        fit = torch.arange(len(x), device=x.device) < n_fit
        return (x + delta).clamp(0, 1), fit

    @staticmethod
    def _result(ctx, x, x_adv, clean_logits, adv_logits, metrics) -> Result:
        delta = x_adv - x
        gain = perturbation_gain(ctx.options.amplify, delta)
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
