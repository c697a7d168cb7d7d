"""Class model visualization (Simonyan, Vedaldi & Zisserman 2014, Sect. 2; lecture 21.6):

    I* = argmax_I  S_c(I) - lambda ||I||_2^2

by gradient ascent on the image from the zero (mean) image, S_c the pre-softmax score of
class c (``target=logit``, ``target.index`` one class or a list rendered in one batch). The
L2 decay is ``regularizers.l2`` (added with weight ``method.l2_decay`` unless the
regularizers group already has an ``l2`` entry); the paper-unit normalization 1/(H W B^2) of
:class:`vizlab.regularizers.penalties.L2Decay` applies. Yosinski et al. 2015's regularizers
(Gaussian blur every k steps, zeroing small-norm and small-contribution pixels) are the
``transforms=yosinski`` preset; ``param=fourier transforms=standard`` gives the AM paper's
frequency-domain variant. The optimization is the shared pre-image loop (preimage.py).

Logged with the images (SPEC §3): the target probability and rank, the logit relative to its
maximum over the built-in photos and their crops, and transferability -- rank and probability
of the class under other offline models at their own input size (``method.transfer_models``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from vizlab.data.reference_set import photo_set
from vizlab.errors import VizlabError
from vizlab.methods.base import Method, Result, RunContext
from vizlab.methods.preimage import engine_settings, mark_interrupted, options_of
from vizlab.metrics import topk_labels
from vizlab.metrics.transfer import class_rank_probability, transfer_metrics
from vizlab.models.wrapper import OUTPUT, VisionModel
from vizlab.plotting import curves, grid, labelled_grid
from vizlab.preimage import PreImageProblem, evaluate, image_keys, solve, to_unit_images
from vizlab.regularizers.penalties import L2Decay
from vizlab.regularizers.schema import validate_regularizers
from vizlab.regularizers.stack import RegularizerStack
from vizlab.schema import check_choice, check_positive

_PHOTO_LOGITS: dict[tuple, torch.Tensor] = {}


@torch.no_grad()
def photo_logit_maxima(model: VisionModel, batch: int = 16) -> torch.Tensor:
    """Per class, the largest logit over the built-in photos and their quadrant crops (the
    reference set of ``activation_max``), cached per model and size."""
    key = (model.name, id(model.module), tuple(model.spec.size))
    if key not in _PHOTO_LOGITS:
        images = photo_set(model.spec)[0]
        best = torch.full((model.num_classes,), -float("inf"))
        for start in range(0, images.shape[0], batch):
            x = model.units.unit_to_model(images[start : start + batch].to(model.device))
            best = torch.maximum(best, model.logits(x).amax(0).cpu())
        _PHOTO_LOGITS[key] = best
    return _PHOTO_LOGITS[key]


INITS = ("zero", "random")


@dataclass
class ClassModelOptions:
    """``C`` > 0 weighs the class score; ``l2_decay`` >= 0 is lambda (0: off); ``init`` the
    start image (``zero``: the mean image, as Simonyan et al.; ``random``: the
    parameterization's own); ``transfer_models`` other offline models that rank the class."""

    name: str
    iterations: int
    C: float
    l2_decay: float
    init: str
    init_scale: float
    B_plus: float | None
    transfer_models: list[str]
    seed: int

    def __post_init__(self) -> None:
        check_positive("iterations", self.iterations, integer=True)
        check_positive("C", self.C)
        check_positive("l2_decay", self.l2_decay, allow_zero=True)
        check_choice("init", self.init, INITS)
        check_positive("init_scale", self.init_scale)
        if self.B_plus is not None:
            check_positive("B_plus", self.B_plus)


def with_l2_decay(
    stack: RegularizerStack, entries: dict[str, Any], weight: float
) -> tuple[RegularizerStack, float]:
    """The stack with Simonyan's L2 decay of ``weight`` added, unless the regularizers group
    already has an ``l2`` entry (e.g. from transforms=yosinski); and the L2 weight in force."""
    if "l2" in entries:
        entry = entries["l2"]
        return stack, float(entry.weight) if entry.enabled else 0.0
    if weight <= 0:
        return stack, 0.0
    return stack.with_penalty("l2", weight, L2Decay()), float(weight)


class ClassModel(Method):
    name = "class_model"
    description = "Class model by gradient ascent with L2 decay (Simonyan 2014; Yosinski 2015)"
    Options = ClassModelOptions

    def run(self, ctx: RunContext) -> Result:
        opts, model, target = options_of(ctx, ClassModelOptions), ctx.model, ctx.target
        if target.kind != "logit":
            raise VizlabError(
                f"method=class_model maximizes class scores, but target={target.kind} was given. "
                "Use target=logit target.index=<class or list of classes> (e.g. "
                "target.index=[301,323,953]); for other units use method=activation_max."
            )
        classes = list(target.indices or [])
        entries = validate_regularizers(ctx.cfg.get("regularizers"))
        stack, l2 = with_l2_decay(ctx.regularizers, entries, opts.l2_decay)
        size = tuple(model.spec.size)
        objective = target.objective
        problem = PreImageProblem(
            lambda feats: -objective(feats),  # maximize S_c
            [OUTPUT],
            torch.zeros(len(classes), 3, *size) if opts.init == "zero" else None,
            C=float(opts.C),
            stride=model.receptive_field(OUTPUT).stride,
            keys=image_keys(classes),
            batch=len(classes),
            size=size,
        )
        trace = solve(
            model,
            engine_settings(ctx, opts, stack),
            problem,
            opts.iterations,
            desc=f"class_model {classes}",
        )
        images = to_unit_images(model, trace.x)
        metrics = self._metrics(ctx, classes, trace.x, images)
        metrics["l2_decay"] = l2
        metrics.update(trace.timing())
        mark_interrupted(metrics, trace)
        return self._result(ctx, classes, images, metrics, trace.history)

    @staticmethod
    def _metrics(
        ctx: RunContext, classes: list[int], x_paper: torch.Tensor, images: torch.Tensor
    ) -> dict[str, Any]:
        model = ctx.model
        # the displayed (clipped) image is what is scored and what transfers
        logits = evaluate(model, model.units.unit_to_paper(images), [OUTPUT])[OUTPUT].cpu()
        idx = torch.as_tensor(classes)
        achieved = logits[torch.arange(len(classes)), idx]
        ranks, probs = class_rank_probability(logits, classes)
        maxima = photo_logit_maxima(model)[idx]
        metrics: dict[str, Any] = {
            "classes": classes,
            "target_probability": float(probs.mean()),
            "target_probability_per_image": probs.tolist(),
            "target_rank": float(ranks.float().mean()),
            "target_rank_per_image": ranks.tolist(),
            "top1_rate": float((ranks == 1).float().mean()),
            "achieved_logit": float(achieved.mean()),
            "achieved_logit_per_image": achieved.tolist(),
            "reference_max_logit": maxima.tolist(),
            "activation_relative_to_max": float((achieved / maxima.clamp_min(1e-6)).mean()),
            "activation_relative_to_max_per_image": (achieved / maxima.clamp_min(1e-6)).tolist(),
        }
        for c, top in zip(classes, topk_labels(logits)):
            metrics[f"class_{c}_top5"] = top
        metrics.update(transfer_metrics(ctx, images.cpu(), classes))
        return metrics

    @staticmethod
    def _result(ctx, classes, images, metrics, history) -> Result:
        model = ctx.model
        names = ctx.target.unit_labels(model)
        p = metrics["target_probability_per_image"]
        others = metrics.get("transfer_models", [])
        labels = []
        for i, name in enumerate(names):
            text = f"{name.split(',')[0]}\np={p[i]:.2f}"
            ranks = []
            for m in others:
                rank = metrics[f"transfer_{m}_target_rank_per_image"][i]
                ranks.append(f"{m.replace('efficientnet_', '')} #{rank}")
            labels.append(text + ("\n" + ", ".join(ranks) if ranks else ""))
        nrow = int(np.ceil(np.sqrt(len(images))))
        return Result(
            images={"class_model": grid(images, nrow=nrow)},
            metrics=metrics,
            figures={
                "class_model_labelled": labelled_grid(
                    images, labels, nrow, f"Class models on {model.name}", 2.6
                ),
                "energy": curves(history),
            },
            tensors={"class_model": images.cpu()},
            history=history,
        )
