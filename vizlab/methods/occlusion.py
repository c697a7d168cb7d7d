"""Occlusion sensitivity (Zeiler & Fergus 2014, Sect. 4.2): slide a baseline patch over the
photo and map the drop of the class probability (or logit, or unit score).

The occluded images are evaluated ``method.batch_size`` at a time. ``auto`` means 4 images per
forward pass on the CPU -- on the 2-core CPU this was written on, EfficientNet-Lite0 (NHWC
weights) at 224 px took 4.5 s for chelsea's 169 windows one at a time, 2.8 s in batches of 4,
3.0 s of 8 and 3.9 s of 32 (large batches are memory-bound there) -- and 64 per pass on a
GPU. ``method.time_batch_sizes`` recomputes the map with each listed batch size and logs the
wall-clock times (a measurement, and a check that every batch size gives the same map)."""

from __future__ import annotations

import time

import torch

from vizlab.attribution import Occlusion as OcclusionAttribution
from vizlab.attribution.display import normalize, overlay, signed
from vizlab.attribution.explain import baseline, explained
from vizlab.attribution.occlusion import occlusion_masks
from vizlab.errors import VizlabError
from vizlab.methods.base import Method, Result, RunContext
from vizlab.plotting import grid, labelled_grid

SCORES = ("probability", "logit")


class Occlusion(Method):
    name = "occlusion"
    description = "Occlusion sensitivity: score drop under a sliding patch (Zeiler & Fergus)"

    def run(self, ctx: RunContext) -> Result:
        cfg, model = ctx.method_cfg, ctx.model
        ex = explained(ctx)
        h, w = ex.inputs.shape[-2:]
        patch, stride = int(cfg.get("patch", 32)), int(cfg.get("stride", 16))
        if not 0 < patch <= min(h, w):
            raise VizlabError(
                f"method.patch={patch} must be in 1..{min(h, w)} (the image is {h}x{w} px)."
            )
        if not 0 < stride <= patch:
            raise VizlabError(
                f"method.stride={stride} must be in 1..method.patch ({patch}) so that every "
                "pixel is occluded at least once."
            )
        batch = _batch_size(cfg.get("batch_size", "auto"), ex.inputs.device)
        timed = [_batch_size(b, ex.inputs.device) for b in cfg.get("time_batch_sizes") or []]
        score = cfg.get("score", "probability")
        if score not in SCORES:
            raise VizlabError(f"method.score={score!r} is not valid; use {' or '.join(SCORES)}.")
        forward = ex.forward
        if score == "probability" and ex.is_class:

            def forward(x):
                return ex.forward(x).softmax(-1)

        base = baseline(ctx, cfg.get("baseline", "mean"), ex.inputs, ex.photos)
        occlusion = OcclusionAttribution(forward)
        windows = occlusion_masks(h, w, (patch, patch), (stride, stride)).shape[0]

        def attribute(batch_size: int) -> tuple[torch.Tensor, float]:
            start = time.perf_counter()
            attr = occlusion.attribute(
                ex.inputs, ex.target, patch, stride, baselines=base, batch_size=batch_size
            )
            return attr[:, 0], time.perf_counter() - start

        drop, seconds = attribute(batch)
        metrics = dict(ex.metrics)
        with torch.no_grad():
            reference = occlusion.scores(ex.inputs, ex.target)
        metrics.update(
            {
                "score": score if ex.is_class else "unit",
                "patch": patch,
                "stride": stride,
                "baseline": str(cfg.get("baseline", "mean")),
                "windows": windows,
                "batch_size": batch,
                "forward_passes": len(ex.inputs) * -(-windows // batch),  # per image, in turn
                "seconds": seconds,
                "reference_score": float(reference[0]),
                "max_drop": float(drop[0].max()),
                "min_drop": float(drop[0].min()),
            }
        )
        if timed:
            diffs = []
            for size in timed:
                again, metrics[f"seconds_batch_{size}"] = attribute(size)
                diffs.append(float((again - drop).abs().max()))
            metrics["batch_sizes_max_abs_diff"] = max(diffs)
            if len(timed) > 1:  # the first listed size relative to the last
                first, last = timed[0], timed[-1]
                metrics[f"speedup_batch_{last}_vs_{first}"] = metrics[
                    f"seconds_batch_{first}"
                ] / max(metrics[f"seconds_batch_{last}"], 1e-9)
        positive = normalize(drop, percentile=100.0)
        diverging = signed(drop)
        over = overlay(ex.photos, positive)
        rows, labels = [], []
        for i, name in enumerate(ex.names):
            rows += [ex.photos[i].cpu(), diverging[i], over[i]]
            labels += [
                f"{name}: {ex.labels[i]}"[:42],
                f"drop of {metrics['score']} (red +, blue -)",
                "overlay (drop > 0)",
            ]
        title = (
            f"Occlusion {patch}px/{stride}px, baseline {metrics['baseline']} ({model.name}): "
            f"{windows} windows"
        )
        n = len(ex.names)
        return Result(
            images={"occlusion_map": grid(diverging, nrow=n), "occlusion_overlay": grid(over, n)},
            metrics=metrics,
            figures={"occlusion": labelled_grid(torch.stack(rows), labels, 3, title)},
            tensors={"drop": drop.cpu()},
        )


def _batch_size(value, device: torch.device) -> int:
    """``auto`` (4 on CPU, 64 on GPU) or a positive int."""
    if value == "auto":
        return 4 if device.type == "cpu" else 64
    try:
        size = int(value)
    except (TypeError, ValueError):
        size = 0
    if size < 1:
        raise VizlabError(
            f"method.batch_size / time_batch_sizes value {value!r} is not valid: give a positive "
            "number of occluded images per forward pass, or auto (4 on CPU, 64 on GPU)."
        )
    return size
