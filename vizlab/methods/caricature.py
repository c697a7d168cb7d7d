"""Visualization by caricaturization (M&V Sect. 7): start from x0 and maximize
<Phi(x), Phi0>/Z with Phi0 = max(0, Phi(x0)) and Z = ||Phi0||^2 (Eq. 4). The paper's C = 1 is
``method.C=1``; the default ``auto`` balances the terms (see calibration.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from vizlab.methods.base import Method, Result, RunContext
from vizlab.methods.preimage import PreImageOptions, engine_settings, mark_interrupted, options_of
from vizlab.plotting import curves, grid, labelled_grid
from vizlab.preimage import PreImageProblem, balanced_C, evaluate, resolve_C, solve, to_unit_images
from vizlab.preimage.calibration import check_C
from vizlab.schema import check_positive


@dataclass
class CaricatureOptions(PreImageOptions):
    """``C``: ``auto`` (balanced, see vizlab/preimage/calibration.py) or a number > 0."""

    C: Any
    C_balance: float

    def __post_init__(self) -> None:
        super().__post_init__()
        check_C("C", self.C)
        check_positive("C_balance", self.C_balance)


class Caricature(Method):
    name = "caricature"
    description = "Exaggerate what a layer sees in a photo (M&V Sect. 7)"
    Options = CaricatureOptions

    def run(self, ctx: RunContext) -> Result:
        opts, model, layer = options_of(ctx, CaricatureOptions), ctx.model, ctx.target.layer
        x0_unit = ctx.references.images.to(ctx.device)
        x0 = model.units.unit_to_paper(x0_unit)
        phi0 = evaluate(model, x0, [layer])[layer].clamp_min(0)
        Z = phi0.flatten(1).pow(2).sum(1).clamp_min(1e-12)

        def inner(feats) -> torch.Tensor:
            return (feats[layer] * phi0).flatten(1).sum(1) / Z

        def data_loss_of_image(x: torch.Tensor) -> torch.Tensor:
            return -inner(model.features(model.units.paper_to_model(x), [layer]))

        regularizers = ctx.regularizers
        C = resolve_C(
            opts.C,
            opts.C_balance,
            lambda balance: balanced_C(regularizers, data_loss_of_image, x0, balance),
        )
        problem = PreImageProblem(
            lambda f: -inner(f),
            [layer],
            x0.clone(),
            C=C,
            stride=model.receptive_field(layer).stride,
            finetune_iterations=opts.finetune_iterations,
        )
        trace = solve(
            model,
            engine_settings(ctx, opts, regularizers),
            problem,
            opts.iterations,
            desc=f"caricature {layer}",
        )
        before = inner(evaluate(model, x0, [layer])).cpu()
        after = inner(evaluate(model, trace.x, [layer])).cpu()
        images = to_unit_images(model, trace.x)
        pairs = torch.cat([torch.stack([a, b]) for a, b in zip(x0_unit, images)])
        labels = [t for name in ctx.references.names for t in (name, f"caricature {layer}")]
        result = Result(
            images={"comparison": grid(pairs, nrow=2), "caricature": grid(images, nrow=1)},
            metrics={
                "layer": layer,
                "layer_depth": model.depth(layer),
                "inner_product_ratio_before": float(before.mean()),
                "inner_product_ratio": float(after.mean()),
                "C": float(torch.as_tensor(C).float().mean()),
                "jitter_T": ctx.regularizers.jitter(model.receptive_field(layer).stride).T,
                **trace.timing(),
            },
            figures={
                "comparison_labelled": labelled_grid(pairs, labels, 2),
                "energy": curves(trace.history),
            },
            tensors={"caricature": images.cpu(), "reference": x0_unit.cpu()},
            history=trace.history,
        )
        mark_interrupted(result.metrics, trace)
        return result
