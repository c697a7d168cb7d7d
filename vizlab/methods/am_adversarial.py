"""Targeted adversarial examples by activation maximization (the AM paper, Sect. 4.4):

    max_delta  z_t(x + delta) - lambda * TV(delta)
    s.t.  ||delta||_inf <= eps,  x + delta in [0, 1],

solved by projected gradient ascent x <- Pi(x + step * grad) in [0, 1] pixel space, where Pi
clips delta to the L_inf ball and then the image to the valid range. z_t is the pre-softmax
logit of the target class and TV the isotropic total variation (Strong & Chan 2003) of the
perturbation. Defaults are the paper's Table 2: ResNet50V2 eps 0.01, step 0.01, lambda 1e-4,
30 steps (ViT: eps 0.05). Every photo of the data config (the built-in colour photos by
default) is attacked towards every class of ``method.target_class``, in batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from vizlab.attacks import project
from vizlab.errors import VizlabError
from vizlab.methods.base import Method, Result, RunContext
from vizlab.methods.preimage import options_of
from vizlab.metrics import topk_labels
from vizlab.metrics.transfer import class_rank_probability, transfer_metrics
from vizlab.models.wrapper import VisionModel
from vizlab.plotting import curves, grid, labelled_grid
from vizlab.regularizers.penalties import total_variation
from vizlab.schema import check_choice, check_positive
from vizlab.targets.schema import parse_indices

STEP_RULES = ("gradient", "sign")
PAPER_EPS = {"cnn": 0.01, "vit": 0.05}


def tv_isotropic(delta: torch.Tensor) -> torch.Tensor:
    """Isotropic TV per image: sum_{u,v,k} sqrt(dx^2 + dy^2) (Strong & Chan 2003)."""
    return total_variation(delta, beta=1.0, eps=1e-12)


def project_image(x_adv: torch.Tensor, x: torch.Tensor, eps: float) -> torch.Tensor:
    """Pi of the paper: onto the L_inf ball of radius ``eps`` around ``x``, then [0, 1]."""
    return (x + project(x_adv - x, eps, "linf")).clamp(0.0, 1.0)


def am_attack(
    model: VisionModel,
    x: torch.Tensor,
    targets: torch.Tensor,
    eps: float = 0.01,
    step_size: float = 0.01,
    tv_weight: float = 1e-4,
    steps: int = 30,
    step_rule: str = "gradient",
    progress: bool = False,
) -> tuple[torch.Tensor, dict[str, list[float]]]:
    """Adversarial images (N x 3 x H x W in [0, 1]) pushing image i towards class
    ``targets[i]``, and the per-step mean objective / target logit.

    ``step_rule``: ``gradient`` is the paper's update x + step * grad J; ``sign`` uses
    step * sign(grad J) (I-FGSM style, Kurakin et al. 2017) for comparison."""
    if step_rule not in STEP_RULES:
        raise VizlabError(
            f"method.step_rule={step_rule!r} is not a step rule. Valid: {', '.join(STEP_RULES)} "
            "(gradient: the AM paper's x + step * grad; sign: step * sign(grad))."
        )
    x = x.detach().to(model.device)
    targets = targets.to(model.device).long()
    rows = torch.arange(x.shape[0], device=x.device)
    x_adv = x.clone()
    history: dict[str, list[float]] = {"objective": [], "target_logit": [], "tv": []}
    bar = tqdm(range(steps), desc="am_adversarial", disable=not progress, leave=False)
    for _ in bar:
        x_adv.requires_grad_(True)
        logits = model.logits(model.units.unit_to_model(x_adv))
        z = logits[rows, targets]
        tv = tv_isotropic(x_adv - x)
        objective = z - tv_weight * tv
        (grad,) = torch.autograd.grad(objective.sum(), x_adv)
        with torch.no_grad():
            update = grad.sign() if step_rule == "sign" else grad
            x_adv = project_image(x_adv + step_size * update, x, eps)
        history["objective"].append(float(objective.detach().mean()))
        history["target_logit"].append(float(z.detach().mean()))
        history["tv"].append(float(tv.detach().mean()))
        bar.set_postfix(logit=f"{history['target_logit'][-1]:.3g}")
    return x_adv.detach(), history


def short_label(label: str) -> str:
    """'301:ladybug, ladybeetle, ... (0.512)' -> '301:ladybug (0.512)' for tile titles."""
    head, _, rest = label.partition(",")
    tail = label[label.rfind(" (") :] if rest and label.endswith(")") else ""
    return head + tail


def parse_targets(value: Any, model: VisionModel) -> list[int]:
    """``method.target_class``: an int, a list of ints or 'start:stop', all valid classes."""
    if not model.num_classes:
        raise VizlabError(
            f"method=am_adversarial maximizes a class logit, but {model.name} has no "
            "classification head (num_classes=0). Use a classifier (e.g. model=efficientnet_lite0, "
            "or a timm ViT with model.pretrained=true, which needs network access)."
        )
    try:
        classes = parse_indices(value, "target_class")
    except ValueError:
        classes = None
    if not classes or any(not 0 <= c < model.num_classes for c in classes):
        raise VizlabError(
            f"method.target_class={value!r} is not a class (or list of classes) of {model.name}: "
            f"give integers in [0, {model.num_classes - 1}], e.g. method.target_class=301 "
            "(ladybug) or method.target_class=[301,323,953] (ladybug, monarch, pineapple)."
        )
    return classes


@dataclass
class AMAdversarialOptions:
    """The AM paper's Table 2 knobs: ``eps`` > 0 (null: 0.01 for CNNs, 0.05 for ViTs),
    ``step_size`` > 0, ``tv_weight`` >= 0, ``steps`` >= 1; ``target_class`` an int, a list
    or ``'start:stop'`` (checked against the model's classes when it is loaded)."""

    name: str
    target_class: Any
    eps: float | None
    step_size: float
    tv_weight: float
    steps: int
    step_rule: str
    batch_size: int
    amplify: float
    transfer_models: list[str]
    seed: int

    def __post_init__(self) -> None:
        parse_indices(self.target_class, "target_class")
        if self.eps is not None:
            check_positive("eps", self.eps)
        check_positive("step_size", self.step_size)
        check_positive("tv_weight", self.tv_weight, allow_zero=True)
        check_positive("steps", self.steps, integer=True)
        check_choice("step_rule", self.step_rule, STEP_RULES)
        check_positive("batch_size", self.batch_size, integer=True)
        check_positive("amplify", self.amplify)


class AMAdversarial(Method):
    name = "am_adversarial"
    description = "Targeted adversarial examples by logit maximization with TV, eps-ball (AM paper)"
    Options = AMAdversarialOptions

    def run(self, ctx: RunContext) -> Result:
        opts, model = options_of(ctx, AMAdversarialOptions), ctx.model
        targets = parse_targets(opts.target_class, model)
        default_eps = PAPER_EPS["vit" if model.is_vit else "cnn"]
        eps = float(opts.eps) if opts.eps is not None else default_eps
        step_size, tv_weight, steps = opts.step_size, opts.tv_weight, opts.steps
        step_rule = opts.step_rule
        refs = ctx.references
        x = refs.images.to(ctx.device)
        n, k = x.shape[0], len(targets)
        # photo-major: photo i towards every target, one row each
        x_rep = x.repeat_interleave(k, 0)
        t_rep = torch.as_tensor(targets).repeat(n)
        batch = opts.batch_size
        chunks, history = [], {}
        for start in range(0, x_rep.shape[0], batch):
            adv, hist = am_attack(
                model,
                x_rep[start : start + batch],
                t_rep[start : start + batch],
                eps=eps,
                step_size=step_size,
                tv_weight=tv_weight,
                steps=steps,
                step_rule=step_rule,
                progress=ctx.progress,
            )
            chunks.append(adv)
            history = history or hist
        x_adv = torch.cat(chunks)
        with torch.no_grad():
            clean_logits = model.logits(model.units.unit_to_model(x)).cpu()
            adv_logits = model.logits(model.units.unit_to_model(x_adv)).cpu()
        metrics = self._metrics(
            ctx, refs.names, targets, x_rep.cpu(), x_adv.cpu(), t_rep, clean_logits, adv_logits
        )
        metrics.update(eps=eps, step_size=step_size, tv_weight=tv_weight, steps=steps)
        metrics["step_rule"] = step_rule
        # do the adversarial images fool other models too? (method.transfer_models, [] = skip)
        metrics.update(transfer_metrics(ctx, x_adv.cpu(), t_rep.tolist()))
        return self._result(
            ctx, opts, x_rep.cpu(), x_adv.cpu(), t_rep, clean_logits, adv_logits, metrics, history
        )

    @staticmethod
    def _metrics(
        ctx: RunContext,
        names: Sequence[str],
        targets: list[int],
        x_rep: torch.Tensor,
        x_adv: torch.Tensor,
        t_rep: torch.Tensor,
        clean_logits: torch.Tensor,
        adv_logits: torch.Tensor,
    ) -> dict[str, Any]:
        k = len(targets)
        delta = (x_adv - x_rep).flatten(1)
        linf, l2 = delta.abs().amax(1), delta.norm(dim=1)
        clean_rep = clean_logits.repeat_interleave(k, 0)
        success = adv_logits.argmax(-1) == t_rep
        already = clean_rep.argmax(-1) == t_rep
        rank_before, p_before = class_rank_probability(clean_rep, t_rep)
        rank_after, p_after = class_rank_probability(adv_logits, t_rep)
        metrics: dict[str, Any] = {
            "target_classes": list(targets),
            "num_images": len(names),
            "num_attacks": int(t_rep.numel()),
            "success_rate": float(success.float().mean()),
            "already_target_before": int(already.sum()),
            "linf_mean": float(linf.mean()),
            "linf_max": float(linf.max()),
            "linf_mean_255": 255 * float(linf.mean()),
            "l2_mean": float(l2.mean()),
            "l2_max": float(l2.max()),
            "target_probability_before_mean": float(p_before.mean()),
            "target_probability_mean": float(p_after.mean()),
            "target_rank_before_mean": float(rank_before.float().mean()),
            "target_rank_mean": float(rank_after.float().mean()),
        }
        if success.any():
            metrics["l2_mean_successful"] = float(l2[success].mean())
        for j, t in enumerate(targets):
            metrics[f"success_rate_{t}"] = float(success[j::k].float().mean())
        clean_top5 = topk_labels(clean_logits)
        adv_top5 = topk_labels(adv_logits)
        for i, name in enumerate(names):
            metrics[f"{name}_clean_top5"] = clean_top5[i]
            for j, t in enumerate(targets):
                r = i * k + j
                metrics[f"{name}_to_{t}_adv_top5"] = adv_top5[r]
                metrics[f"{name}_to_{t}_success"] = bool(success[r])
        return metrics

    @staticmethod
    def _result(
        ctx, opts, x_rep, x_adv, t_rep, clean_logits, adv_logits, metrics, history
    ) -> Result:
        amplify = float(opts.amplify)
        delta = x_adv - x_rep
        shown = (0.5 + amplify * delta).clamp(0, 1)
        names = ctx.references.names
        k = len(metrics["target_classes"])
        clean_top = [short_label(t[0]) for t in topk_labels(clean_logits, 1)]
        adv_top = [short_label(t[0]) for t in topk_labels(adv_logits, 1)]
        probs = adv_logits.softmax(-1)
        # one row per photo: the photo, then (perturbation, adversarial image) per target
        tiles, labels = [], []
        for i, name in enumerate(names):
            tiles.append(x_rep[i * k])
            labels.append(f"{name}\n{clean_top[i]}")
            for r in range(i * k, (i + 1) * k):
                t, d = int(t_rep[r]), delta[r]
                tiles += [shown[r], x_adv[r]]
                labels += [
                    f"delta x{amplify:g} -> {t}\nLinf {d.abs().max():.4f}, L2 {d.norm():.2f}",
                    f"-> {t}: p={probs[r, t]:.2f}\n{adv_top[r]}",
                ]
        rows = torch.stack(tiles)
        ncols = 1 + 2 * k
        title = (
            f"AM adversarial on {ctx.model.name}: eps {metrics['eps']:g}, step "
            f"{metrics['step_size']:g}, lambda {metrics['tv_weight']:g}, {metrics['steps']} steps; "
            f"success {100 * metrics['success_rate']:.0f}%"
        )
        return Result(
            images={"adversarial": grid(rows, nrow=ncols), "perturbation_x10": grid(shown, nrow=k)},
            metrics=metrics,
            figures={
                "adversarial_labelled": labelled_grid(rows, labels, ncols, title, 2.6),
                "objective": curves(history, "AM adversarial (first batch)"),
            },
            tensors={"adversarial": x_adv, "perturbation": delta, "original": x_rep},
            history=history,
        )
