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

from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf

from vizlab.data.reference_set import photo_set
from vizlab.errors import VizlabError
from vizlab.methods.base import Method, Result, RunContext
from vizlab.methods.preimage import (
    PreImageProblem,
    evaluate,
    image_keys,
    optimize_preimage,
    to_unit_images,
)
from vizlab.metrics import topk_labels
from vizlab.metrics.transfer import class_rank_probability, transfer_metrics
from vizlab.models.wrapper import OUTPUT, VisionModel
from vizlab.plotting import curves, grid, labelled_grid

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


def with_l2_decay(ctx: RunContext, weight: float) -> RunContext:
    """A context whose regularizers include Simonyan's L2 decay with ``weight`` (unchanged if
    the regularizers group already has an ``l2`` entry, e.g. from transforms=yosinski)."""
    regs = ctx.cfg.get("regularizers") or {}
    if "l2" in regs or weight <= 0:
        return ctx
    cfg = OmegaConf.create(OmegaConf.to_container(ctx.cfg, resolve=True))
    if cfg.get("regularizers") is None:
        cfg.regularizers = {}
    cfg.regularizers.l2 = {"weight": float(weight)}
    return RunContext(cfg, ctx.model, progress=ctx.progress)


class ClassModel(Method):
    name = "class_model"
    description = "Class model by gradient ascent with L2 decay (Simonyan 2014; Yosinski 2015)"

    def run(self, ctx: RunContext) -> Result:
        cfg, model, target = ctx.method_cfg, ctx.model, ctx.target
        if target.kind != "logit":
            raise VizlabError(
                f"method=class_model maximizes class scores, but target={target.kind} was given. "
                "Use target=logit target.index=<class or list of classes> (e.g. "
                "target.index=[301,323,953]); for other units use method=activation_max."
            )
        classes = list(target.indices or [])
        init = str(cfg.get("init", "zero"))
        if init not in ("zero", "random"):
            raise VizlabError(
                f"method.init={init!r} is not a start image. Valid: zero (the mean image, as "
                "Simonyan et al.) or random (the parameterization's own random start)."
            )
        l2 = float(cfg.get("l2_decay", 0.0) or 0.0)
        if l2 < 0:
            raise VizlabError(f"method.l2_decay={l2} must be >= 0 (0 switches the decay off).")
        run_ctx = with_l2_decay(ctx, l2)
        size = tuple(model.spec.size)
        objective = target.objective
        problem = PreImageProblem(
            lambda feats: -objective(feats),  # maximize S_c
            [OUTPUT],
            torch.zeros(len(classes), 3, *size) if init == "zero" else None,
            C=float(cfg.get("C", 1.0)),
            stride=model.receptive_field(OUTPUT).stride,
            keys=image_keys(classes),
            batch=len(classes),
            size=size,
        )
        trace = optimize_preimage(
            run_ctx, problem, int(cfg.iterations), desc=f"class_model {classes}"
        )
        images = to_unit_images(ctx, trace.x)
        metrics = self._metrics(ctx, classes, trace.x, images)
        regs = run_ctx.cfg.get("regularizers") or {}
        entry = regs.get("l2") or {}
        on = "l2" in regs and entry.get("enabled", True) is not False
        metrics["l2_decay"] = float(entry.get("weight", 1.0)) if on else 0.0
        metrics.update(trace.timing())
        return self._result(ctx, classes, images, metrics, trace.history)

    @staticmethod
    def _metrics(
        ctx: RunContext, classes: list[int], x_paper: torch.Tensor, images: torch.Tensor
    ) -> dict[str, Any]:
        model = ctx.model
        # the displayed (clipped) image is what is scored and what transfers
        logits = evaluate(ctx, model.units.unit_to_paper(images), [OUTPUT])[OUTPUT].cpu()
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
