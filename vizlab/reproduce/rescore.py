"""Classification consistency scored again from a cached job's images, with two measures that
tell a real change of meaning from a flip between near-tied classes.

M&V Sect. 5.2.2 counts a pre-image as consistent when the network's top-1 class equals its
reference's. On photos whose top classes are near-synonyms (chelsea: Egyptian cat 0.43, tiger
cat 0.35 on EfficientNet-Lite0) any small change flips that top-1, so the report also gives
how often the pre-image's top-1 is among the reference's top 5, and how confident the network
is on the references (top-1 probability, top-1 minus top-2 margin)."""

from __future__ import annotations

from functools import cache

import torch
from omegaconf import OmegaConf

from vizlab.reproduce.jobs import Job

TOP5 = "classification_consistency_top5"


@cache
def _classifier(model_yaml: str, size: int | None):
    from vizlab.models.loading import build_model, wrap_model

    cfg = OmegaConf.create(model_yaml)
    return wrap_model(build_model(cfg), cfg, torch.device("cpu")).with_input_size(size)


def add_top5_consistency(jobs: list[Job]) -> None:
    """Add ``classification_consistency_top5``, ``reference_top1_probability`` (mean) and
    ``reference_top1_margin`` (median) to each inversion job's metrics, from its cached
    pre-images and references (stored as float16) under the job's own model and size."""
    from vizlab.metrics.transfer import model_logits

    for job in jobs:
        if job.config is None or TOP5 in job.metrics or "preimage" not in job.tensors:
            continue
        size = job.config.data.get("size")
        model = _classifier(OmegaConf.to_yaml(job.config.model), int(size) if size else None)
        ref = model_logits(model, job.tensors["reference"].float())
        pre = model_logits(model, job.tensors["preimage"].float())
        inits = pre.shape[0] // ref.shape[0]
        top5 = ref.topk(5, dim=-1).indices.repeat_interleave(inits, 0)
        hits = (top5 == pre.argmax(-1)[:, None]).any(1).float()
        best = ref.softmax(-1).topk(2, dim=-1).values
        job.metrics[TOP5] = float(hits.mean())
        job.metrics["reference_top1_probability"] = float(best[:, 0].mean())
        job.metrics["reference_top1_margin"] = float((best[:, 0] - best[:, 1]).median())
