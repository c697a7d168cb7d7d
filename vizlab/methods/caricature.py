"""Visualization by caricaturization (M&V Sect. 7): start from x0 and maximize
<Phi(x), Phi0>/Z with Phi0 = max(0, Phi(x0)) and Z = ||Phi0||^2 (Eq. 4). The paper's C = 1 is
``method.C=1``; the default ``auto`` balances the terms (see calibration.py)."""

from __future__ import annotations

import torch

from vizlab.methods.base import Method, Result, RunContext
from vizlab.methods.calibration import balanced_C, resolve_C
from vizlab.methods.preimage import PreImageProblem, evaluate, optimize_preimage, to_unit_images
from vizlab.plotting import curves, grid, labelled_grid


class Caricature(Method):
    name = "caricature"
    description = "Exaggerate what a layer sees in a photo (M&V Sect. 7)"

    def run(self, ctx: RunContext) -> Result:
        cfg, model, layer = ctx.method_cfg, ctx.model, ctx.target.layer
        x0_unit = ctx.references.images.to(ctx.device)
        x0 = model.units.unit_to_paper(x0_unit)
        phi0 = evaluate(ctx, x0, [layer])[layer].clamp_min(0)
        Z = phi0.flatten(1).pow(2).sum(1).clamp_min(1e-12)

        def inner(feats) -> torch.Tensor:
            return (feats[layer] * phi0).flatten(1).sum(1) / Z

        def data_loss_of_image(x: torch.Tensor) -> torch.Tensor:
            return -inner(model.features(model.units.paper_to_model(x), [layer]))

        C = resolve_C(ctx, lambda balance: balanced_C(ctx, data_loss_of_image, x0, balance))
        problem = PreImageProblem(
            lambda f: -inner(f),
            [layer],
            x0.clone(),
            C=C,
            stride=model.receptive_field(layer).stride,
            finetune_iterations=int(cfg.get("finetune_iterations", 0)),
        )
        trace = optimize_preimage(ctx, problem, int(cfg.iterations), desc=f"caricature {layer}")
        before = inner(evaluate(ctx, x0, [layer])).cpu()
        after = inner(evaluate(ctx, trace.x, [layer])).cpu()
        images = to_unit_images(ctx, trace.x)
        pairs = torch.cat([torch.stack([a, b]) for a, b in zip(x0_unit, images)])
        labels = [t for name in ctx.references.names for t in (name, f"caricature {layer}")]
        return Result(
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
