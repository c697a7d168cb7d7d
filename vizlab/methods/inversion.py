"""Visualization by inversion (Mahendran & Vedaldi Sect. 5): find x with Phi(x) ~ Phi(x0)
from random noise, loss Eq. (2)/(3), C from ``method.C``, 300 + 50 fine-tuning iterations."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vizlab.methods.base import Method, Result, RunContext
from vizlab.methods.preimage import PreImageOptions, engine_settings, mark_interrupted, options_of
from vizlab.metrics import (
    classification_consistency,
    gradient_histogram_intersection,
    mean_ci95,
    normalized_error,
    topk_labels,
)
from vizlab.models.wrapper import OUTPUT
from vizlab.plotting import curves, grid, labelled_grid
from vizlab.preimage import PreImageProblem, evaluate, image_keys, solve, to_unit_images
from vizlab.schema import check_positive


@dataclass
class InversionOptions(PreImageOptions):
    """``C`` > 0 weighs the data term (Sect. 5.2.1: 300 shallow ... 1 deepest); random
    starts of typical pixel norm ``init_scale`` * B."""

    C: float
    init_scale: float

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive("C", self.C)
        check_positive("init_scale", self.init_scale)


class Inversion(Method):
    name = "inversion"
    description = "Invert a layer's code Phi(x0) to a natural pre-image (M&V Sect. 5)"
    Options = InversionOptions

    def run(self, ctx: RunContext) -> Result:
        opts, model = options_of(ctx, InversionOptions), ctx.model
        refs = ctx.references
        layer, mask = ctx.target.layer, ctx.target.mask
        inits = opts.num_inits
        x0_unit = refs.images.to(ctx.device)
        x0 = model.units.unit_to_paper(x0_unit)
        ref_feats = evaluate(model, x0, [layer])
        phi0 = ref_feats[layer].repeat_interleave(inits, 0)
        m = mask.to(phi0) if mask is not None else None
        denominator = (phi0 * m if m is not None else phi0).flatten(1).pow(2).sum(1)

        def data_loss(feats):  # Eq. (3); Eq. (2) when there is no mask
            diff = feats[layer] - phi0
            if m is not None:
                diff = diff * m
            return diff.flatten(1).pow(2).sum(1) / denominator.clamp_min(1e-12)

        problem = PreImageProblem(
            data_loss,
            [layer],
            None,  # the parameterization's own random start
            C=float(opts.C),
            stride=model.receptive_field(layer).stride,
            finetune_iterations=opts.finetune_iterations,
            keys=image_keys(range(len(refs)), inits),
            batch=len(refs) * inits,
            size=tuple(x0.shape[-2:]),
        )
        trace = solve(
            model,
            engine_settings(ctx, opts),
            problem,
            opts.iterations,
            desc=f"inversion {layer} C={opts.C}",
        )
        result = self._report(ctx, opts, trace, x0_unit, phi0, ref_feats, m, inits)
        mark_interrupted(result.metrics, trace)
        return result

    def _report(self, ctx, opts, trace, x0_unit, phi0, ref_feats, mask, inits) -> Result:
        model, layer, refs = ctx.model, ctx.target.layer, ctx.references
        feats = evaluate(model, trace.x, [layer])
        errors = normalized_error(feats[layer], phi0, mask).cpu().numpy()
        pre_unit = to_unit_images(model, trace.x)
        ref_rep = x0_unit.repeat_interleave(inits, 0)
        per_ref = errors.reshape(len(refs), inits)
        _, ci = mean_ci95(per_ref.mean(1))
        metrics = {
            "layer": layer,
            "layer_depth": model.depth(layer),
            "C": float(opts.C),
            **trace.timing(),
            "num_references": len(refs),
            "num_inits": inits,
            "reconstruction_error": 100 * float(errors.mean()),
            "reconstruction_error_ci95": 100 * ci,
            "reconstruction_error_per_image": [100 * float(e) for e in errors],
            "reconstruction_error_std_inits": (
                100 * float(per_ref.std(1, ddof=1).mean()) if inits > 1 else 0.0
            ),
            "naturalness_hist_intersection": float(
                np.mean([gradient_histogram_intersection(p, r) for p, r in zip(pre_unit, ref_rep)])
            ),
            "jitter_T": ctx.regularizers.jitter(model.receptive_field(layer).stride).T,
            # none when an interrupt came before the first step finished
            "final_energy": trace.history["energy"][-1] if trace.history["energy"] else None,
        }
        if OUTPUT in feats:
            ref_logits = ref_feats[OUTPUT].repeat_interleave(inits, 0)
            consistent = classification_consistency(feats[OUTPUT], ref_logits).cpu().numpy()
            metrics["classification_consistency"] = float(consistent.mean())
            metrics["classification_consistent"] = bool(consistent.all())
            metrics["reference_top5"] = topk_labels(ref_feats[OUTPUT])[0]
            metrics["preimage_top5"] = topk_labels(feats[OUTPUT])[0]
        rows = torch.cat(
            [
                torch.cat([x0_unit[i : i + 1], pre_unit[i * inits : (i + 1) * inits]])
                for i in range(len(refs))
            ]
        )
        labels = []
        for i, name in enumerate(refs.names):
            labels.append(f"reference {name}")
            labels += [f"{layer} err {100 * e:.1f}%" for e in per_ref[i]]
        return Result(
            images={"comparison": grid(rows, nrow=inits + 1), "preimage": grid(pre_unit, inits)},
            metrics=metrics,
            figures={
                "comparison_labelled": labelled_grid(
                    rows, labels, inits + 1, f"Inversion of {layer}, C={metrics['C']}"
                ),
                "energy": curves(trace.history),
            },
            tensors={"preimage": pre_unit.cpu(), "reference": x0_unit.cpu()},
            history=trace.history,
        )
