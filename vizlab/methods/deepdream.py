"""DeepDream (Mordvintsev, Olah & Tyka 2015; lecture 21.10): amplify what a layer already sees
in a photo by gradient ascent on ||phi(I)||^2 of ``target.layer``.

The photo is processed at ``octaves`` successively larger scales (factor ``octave_scale``):
at each scale the image (the photo at that scale plus the detail dreamed so far, upsampled)
takes ``iterations`` normalized gradient steps I <- I + step * g / mean|g|, each on a randomly
rolled copy (jitter), clipped to the valid range [0, 1]; the dreamed detail (image minus the
photo) is carried to the next scale. Any target works (``target=channel`` dreams one
channel); the default ``target=layer`` is DeepDream's layer energy.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vizlab.methods.base import Method, Result, RunContext
from vizlab.methods.preimage import options_of
from vizlab.models.wrapper import VisionModel
from vizlab.plotting import curves, grid, labelled_grid
from vizlab.preimage.dream import dream
from vizlab.schema import check_positive, check_range, require
from vizlab.targets import Objective


@torch.no_grad()
def _score(model: VisionModel, objective: Objective, images: torch.Tensor) -> torch.Tensor:
    feats = model.features(model.units.unit_to_model(images.to(model.device)), objective.layers)
    return objective(feats).cpu()


@dataclass
class DeepDreamOptions:
    """``octaves`` >= 1 scales (factor ``octave_scale`` > 1), ``iterations`` >= 1 steps of
    ``step_size`` > 0 per octave, random rolls of up to ``jitter`` >= 0 pixels."""

    name: str
    octaves: int
    octave_scale: float
    iterations: int
    step_size: float
    jitter: int
    seed: int

    def __post_init__(self) -> None:
        check_positive("octaves", self.octaves, integer=True)
        check_positive("iterations", self.iterations, integer=True)
        check_range("octave_scale", self.octave_scale, 1.0, 100.0)
        require(self.octave_scale > 1, "octave_scale", self.octave_scale, "must be > 1")
        check_positive("step_size", self.step_size)
        check_positive("jitter", self.jitter, integer=True, allow_zero=True)


class DeepDream(Method):
    name = "deepdream"
    description = "Amplify a layer's response to a photo at several octaves (Mordvintsev 2015)"
    Options = DeepDreamOptions

    def run(self, ctx: RunContext) -> Result:
        opts, model, target = options_of(ctx, DeepDreamOptions), ctx.model, ctx.target
        octaves, iterations = opts.octaves, opts.iterations
        scale, step, jitter = opts.octave_scale, opts.step_size, opts.jitter
        photos = ctx.references.images
        objective = target.objective
        dreams, history, sizes = dream(
            model,
            photos,
            objective,
            octaves=octaves,
            octave_scale=scale,
            iterations=iterations,
            step_size=step,
            jitter=jitter,
            generator=torch.Generator().manual_seed(opts.seed),
            progress=ctx.progress,
        )
        before, after = _score(model, objective, photos), _score(model, objective, dreams)
        dreams = dreams.cpu()
        pairs = torch.stack([photos.cpu(), dreams], 1).flatten(0, 1)
        labels = [
            text
            for i, name in enumerate(ctx.references.names)
            for text in (f"{name}\n{objective}: {before[i]:.3g}", f"dream\n{after[i]:.3g}")
        ]
        metrics = {
            "layer": target.layer,
            "layer_depth": model.depth(target.layer),
            "objective_before": float(before.mean()),
            "objective_after": float(after.mean()),
            "objective_ratio": float((after / before.clamp_min(1e-12)).mean()),
            "objective_before_per_image": before.tolist(),
            "objective_after_per_image": after.tolist(),
            "octave_sizes": [list(s) for s in sizes],
            "change_linf_mean": float((dreams - photos.cpu()).flatten(1).abs().amax(1).mean()),
        }
        return Result(
            images={"comparison": grid(pairs, nrow=2), "dream": grid(dreams, nrow=1)},
            metrics=metrics,
            figures={
                "comparison_labelled": labelled_grid(
                    pairs, labels, 2, f"DeepDream on {model.name}: {objective}", 3.0
                ),
                "objective": curves(history, "DeepDream objective (per step, all octaves)"),
            },
            tensors={"dream": dreams, "original": photos.cpu()},
            history=history,
        )
