"""Transferability of a class visualization (SPEC §3): do *other* models see the class?

A class model (Simonyan et al. 2014) or an activation-maximization image of a logit can
exploit quirks of the one network it was optimized on; if other networks also rank the
class highly, the image holds features of the class rather than of the network. For each
model of ``method.transfer_models`` (conf/model names, default EfficientNet-Lite1 and -Lite2,
offline), the images are resized to that model's own input size and we log the target
class's rank (1 = top-1) and probability. Models are loaded once per process and cached
(:func:`vizlab.models.loading.load_named_model`, apart from the runner's cache of the run's
own model); :func:`model_logits` is the scoring that the adversarial method's transfer uses too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from vizlab.errors import VizlabError
from vizlab.models.loading import load_named_model, named_model_config
from vizlab.models.wrapper import VisionModel

OPTION = "method.transfer_models"


def class_rank_probability(
    logits: torch.Tensor, classes: Sequence[int] | torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image, the rank (1 = most probable) and the softmax probability of its class.

    Ties count in the image's favour: the rank is 1 + the number of classes that are strictly
    more probable."""
    probs = logits.detach().float().softmax(-1)
    idx = torch.as_tensor(
        list(classes) if not torch.is_tensor(classes) else classes, device=probs.device
    )
    idx = idx.to(probs.device).long().view(-1)
    if idx.numel() == 1 and probs.shape[0] > 1:
        idx = idx.expand(probs.shape[0])
    p = probs.gather(1, idx[:, None]).squeeze(1)
    ranks = (probs > p[:, None]).sum(1) + 1
    return ranks.cpu(), p.cpu()


@torch.no_grad()
def model_logits(model: VisionModel, images_unit01: torch.Tensor, batch: int = 16) -> torch.Tensor:
    """Logits (on the CPU) of images N x 3 x H x W in [0, 1] under ``model``, resized to the
    model's own input size (bicubic, antialiased) when they have another size."""
    size = tuple(model.spec.size)
    logits = []
    for start in range(0, images_unit01.shape[0], batch):
        x = images_unit01[start : start + batch].detach().float().to(model.device)
        if tuple(x.shape[-2:]) != size:
            x = F.interpolate(x, size=size, mode="bicubic", antialias=True, align_corners=False)
        x = x.clamp(0, 1)
        logits.append(model.logits(model.units.unit_to_model(x)).cpu())
    return torch.cat(logits)


def score_on_model(
    model: VisionModel,
    images_unit01: torch.Tensor,
    classes: Sequence[int],
    batch: int = 16,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rank and probability of ``classes`` (one per image) under ``model``, the images (N x 3
    x H x W in [0, 1]) resized to the model's own input size (bicubic, antialiased)."""
    return class_rank_probability(model_logits(model, images_unit01, batch), classes)


def transfer_model(
    name: str, device: torch.device | str = "cpu", size: int | None = None
) -> VisionModel:
    """The model of ``conf/model/<name>.yaml`` at its own input size (or ``size``), loaded once
    per process (:func:`vizlab.models.loading.load_named_model`)."""
    return load_named_model(name, device, size, option=OPTION)


def transfer_model_names(names: Sequence[str] | str | None, own: str) -> list[str]:
    """The conf/model names of ``names`` without the visualized model ``own`` (also when
    named by an alias) and without repeats."""
    if names is None:
        return []
    if isinstance(names, str):
        names = [names]
    out = []
    for name in names:
        name = str(name)
        cfg_name = named_model_config(name, OPTION).name
        if cfg_name != own and name not in out:
            out.append(name)
    return out


def configured_transfer_models(ctx: Any) -> list[str]:
    """A run's ``method.transfer_models`` (typed options when the method declares them)
    without the run's own model."""
    names = getattr(ctx.options, "transfer_models", None)
    if names is None:
        names = ctx.method_cfg.transfer_models
    return transfer_model_names(names, str(ctx.cfg.model.name))


def transfer_metrics(
    ctx: Any,
    images_unit01: torch.Tensor,
    class_indices: Sequence[int],
    models: Sequence[str] | dict[str, VisionModel] | None = None,
) -> dict[str, Any]:
    """Rank and probability of each image's class under other models (flat metrics).

    ``ctx`` is the run's RunContext (for ``method.transfer_models`` and the device);
    ``images_unit01`` N x 3 x H x W in [0, 1]; ``class_indices`` one class per image (or one
    for all). ``models`` overrides the configured list: conf/model names, or ready
    :class:`VisionModel` objects by name (tests). Per model ``<m>``:
    ``transfer_<m>_target_rank`` (mean rank, 1 = top-1), ``transfer_<m>_target_probability``
    (mean), ``transfer_<m>_top1_rate`` / ``_top5_rate`` (fraction of images whose class is
    top-1 / in the top 5) and the per-image lists; over all models ``transfer_top1_rate`` and
    ``transfer_top5_rate``.
    """
    classes = [int(c) for c in class_indices]
    if len(classes) == 1 and images_unit01.shape[0] > 1:
        classes = classes * images_unit01.shape[0]
    if len(classes) != images_unit01.shape[0]:
        raise ValueError(f"{len(classes)} classes for {images_unit01.shape[0]} images")
    if isinstance(models, dict):
        loaded = dict(models)
    else:
        names = list(models) if models is not None else configured_transfer_models(ctx)
        loaded = {n: transfer_model(n, ctx.device) for n in names}
    metrics: dict[str, Any] = {"transfer_models": list(loaded)}
    top1, top5 = [], []
    for name, model in loaded.items():
        if not model.num_classes or max(classes) >= model.num_classes:
            raise VizlabError(
                f"Transfer model {name!r} has {model.num_classes} classes, so it cannot score "
                f"class {max(classes)}. Use classifiers with the same label set in "
                "method.transfer_models (e.g. efficientnet_lite1, efficientnet_lite2)."
            )
        ranks, probs = score_on_model(model, images_unit01, classes)
        metrics[f"transfer_{name}_target_rank"] = float(ranks.float().mean())
        metrics[f"transfer_{name}_target_probability"] = float(probs.mean())
        metrics[f"transfer_{name}_top1_rate"] = float((ranks == 1).float().mean())
        metrics[f"transfer_{name}_top5_rate"] = float((ranks <= 5).float().mean())
        metrics[f"transfer_{name}_target_rank_per_image"] = ranks.tolist()
        metrics[f"transfer_{name}_target_probability_per_image"] = probs.tolist()
        metrics[f"transfer_{name}_input_size"] = list(model.spec.size)
        top1.append(ranks == 1)
        top5.append(ranks <= 5)
    if loaded:
        metrics["transfer_top1_rate"] = float(torch.stack(top1).float().mean())
        metrics["transfer_top5_rate"] = float(torch.stack(top5).float().mean())
    return metrics
