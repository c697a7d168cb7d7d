"""Neural texture synthesis (Gatys et al. 2015; lecture 21.11): from noise, match the Gram
matrices of a texture image over chosen layers, by L-BFGS or Adam."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from vizlab.methods.base import Method, Result, RunContext
from vizlab.methods.style_options import check_layers, check_optimization, optimization
from vizlab.plotting import curves, grid, labelled_grid
from vizlab.schema import check_positive, check_range
from vizlab.style import PerceptualLoss, image_tensor, total_variation
from vizlab.style.layers import style_layers
from vizlab.style.optimize import optimize_timed
from vizlab.style.size import working_size


@dataclass
class TextureOptions:
    name: str
    source: str
    source_size: int | None
    size: int | None
    layers: Any  # auto or a list of layer names
    layer_weights: list[float] | None
    optimizer: str
    lr: float
    iterations: int
    init_scale: float
    tv_weight: float
    num_samples: int
    seed: int

    def __post_init__(self) -> None:
        check_optimization(self)
        check_layers("layers", self.layers)
        for key in ("source_size", "size"):
            if getattr(self, key) is not None:
                check_positive(key, getattr(self, key), integer=True)
        check_range("init_scale", self.init_scale, 0.0, 1.0)
        check_range("tv_weight", self.tv_weight, 0.0)
        check_positive("num_samples", self.num_samples, integer=True)


class Texture(Method):
    name = "texture"
    description = "Gram-matrix texture synthesis from a texture photo (Gatys et al. 2015)"
    Options = TextureOptions

    def run(self, ctx: RunContext) -> Result:
        opts: TextureOptions = ctx.options
        model = ctx.model
        size = working_size(model, opts.size)
        source = image_tensor(opts.source, opts.source_size or size, "method.source")
        source = source.to(ctx.device)
        layers = style_layers(model, opts.layers)
        loss = PerceptualLoss(model, layers, style_weights=opts.layer_weights)
        loss.set_style(source)
        n = opts.num_samples
        noise = torch.rand((n, 3, *size), generator=ctx.generator()).to(ctx.device)
        x0 = 0.5 + opts.init_scale * (noise - 0.5)
        tv_weight = opts.tv_weight

        def objective(x: torch.Tensor) -> dict[str, torch.Tensor]:
            terms = {k: v.mean() for k, v in loss.style_terms(loss.features(x)).items()}
            terms["total"] = torch.stack(list(terms.values())).sum()
            if tv_weight:
                terms["tv"] = tv_weight * total_variation(x).mean()
                terms["total"] = terms["total"] + terms["tv"]
            return terms

        run = optimize_timed(
            x0,
            objective,
            **optimization(opts),
            progress=ctx.progress,
            desc=f"texture {opts.source}",
        )
        x, initial, final, seconds = run.image, run.before, run.after, run.seconds
        metrics = {
            "source": opts.source,
            "layers": layers,
            "optimizer": opts.optimizer,
            "iterations": opts.iterations,
            "size": size[0],
            "gram_loss_initial": _gram(initial),
            "gram_loss_final": _gram(final),
            "gram_loss_ratio": _gram(final) / max(_gram(initial), 1e-30),
            "seconds": seconds,
            "seconds_per_iteration": seconds / max(1, len(run.history.get("total", [1]))),
        }
        metrics.update(
            {f"gram_loss_final_{k}": v for k, v in final.items() if k not in ("total", "tv")}
        )
        shown_source = torch.nn.functional.interpolate(source, size=size, mode="area")
        tiles = torch.cat([shown_source, x]).cpu()
        labels = [f"source: {opts.source}"] + [
            f"synthesized {i + 1}, Gram loss {_gram(final):.3g}" for i in range(n)
        ]
        return Result(
            images={"texture": grid(x.cpu(), nrow=n), "comparison": grid(tiles, nrow=n + 1)},
            metrics=metrics,
            figures={
                "comparison_labelled": labelled_grid(
                    tiles,
                    labels,
                    n + 1,
                    f"Texture on {model.name}\nGram layers: {', '.join(layers)}",
                    3.0,
                ),
                "loss": curves(run.history, "Gram loss per layer"),
            },
            tensors={"texture": x.cpu(), "source": source.cpu()},
            history=run.history,
        )


def _gram(terms: dict[str, float]) -> float:
    """The Gram loss (total minus the TV prior)."""
    return terms["total"] - terms.get("tv", 0.0)
