"""Neural style transfer (Gatys et al. 2016; lecture 21.12.1): an image that keeps the content
features of a photo at a deep layer and takes the Gram matrices of a style image at several
layers, L = alpha L_content + beta L_style (+ an optional TV prior), by L-BFGS or Adam."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vizlab.methods.base import Method, Result, RunContext
from vizlab.methods.style_options import (
    PerceptualOptions,
    check_optimization,
    optimization,
)
from vizlab.plotting import curves, grid, labelled_grid
from vizlab.schema import check_choice, check_positive
from vizlab.style import PerceptualLoss, image_tensor, total_variation
from vizlab.style.layers import content_layers, style_layers
from vizlab.style.optimize import optimize_timed
from vizlab.style.size import working_size

INITS = ("content", "noise")


@dataclass
class StyleTransferOptions(PerceptualOptions):
    size: int | None
    init: str
    optimizer: str
    lr: float
    iterations: int

    def __post_init__(self) -> None:
        super().__post_init__()
        check_optimization(self)
        if self.size is not None:
            check_positive("size", self.size, integer=True)
        check_choice("init", self.init, INITS)


class StyleTransfer(Method):
    name = "style_transfer"
    description = "Content + Gram style loss image optimization (Gatys et al. 2016)"
    Options = StyleTransferOptions

    def run(self, ctx: RunContext) -> Result:
        opts: StyleTransferOptions = ctx.options
        model = ctx.model
        size = working_size(model, opts.size)
        content = ctx.references.images.to(ctx.device)
        if tuple(content.shape[-2:]) != size:
            content = F.interpolate(content, size=size, mode="bicubic", antialias=True)
            content = content.clamp(0, 1)
        style = image_tensor(opts.style, opts.style_size or size).to(ctx.device)
        loss = PerceptualLoss(
            model,
            style_layers(model, opts.style_layers),
            content_layers(model, opts.content_layers),
            opts.style_layer_weights,
        )
        loss.set_style(style)
        targets = loss.content_targets(content)
        alpha, beta, tv_weight = opts.content_weight, opts.style_weight, opts.tv_weight

        def objective(x: torch.Tensor) -> dict[str, torch.Tensor]:
            feats = loss.features(x)
            terms = {
                "content": alpha * loss.content_loss(feats, targets).mean(),
                "style": beta * loss.style_loss(feats).mean(),
            }
            if tv_weight:
                terms["tv"] = tv_weight * total_variation(x).mean()
            terms["total"] = torch.stack(list(terms.values())).sum()
            return terms

        if opts.init == "content":
            x0 = content
        else:
            x0 = torch.rand(content.shape, generator=ctx.generator()).to(content)
        run = optimize_timed(
            x0,
            objective,
            **optimization(opts),
            baseline=content,
            progress=ctx.progress,
            desc=f"style transfer {opts.style}",
        )
        x, before, after = run.image, run.before, run.after
        metrics = {
            "style": opts.style,
            "content_images": list(ctx.references.names),
            "style_layers": loss.style_layers,
            "content_layers": loss.content_layers,
            "content_weight": alpha,
            "style_weight": beta,
            "optimizer": opts.optimizer,
            "iterations": opts.iterations,
            "size": size[0],
            "style_loss_content_image": before["style"] / beta if beta else 0.0,
            "style_loss_final": after["style"] / beta if beta else 0.0,
            "content_loss_final": after["content"] / alpha if alpha else 0.0,
            "total_loss_final": after["total"],
            "seconds": run.seconds,
        }
        n = len(content)
        style_tile = F.interpolate(style, size=size, mode="bicubic", antialias=True).clamp(0, 1)
        tiles = torch.cat([torch.stack([content[i], style_tile[0], x[i]]) for i in range(n)])
        labels = []
        for name in ctx.references.names:
            labels += [f"content: {name}", f"style: {opts.style}", "stylized"]
        return Result(
            images={"stylized": grid(x.cpu(), nrow=n), "comparison": grid(tiles.cpu(), nrow=3)},
            metrics=metrics,
            figures={
                "comparison_labelled": labelled_grid(
                    tiles.cpu(),
                    labels,
                    3,
                    f"Style transfer on {model.name} (alpha {alpha:g}, beta {beta:g})",
                    3.0,
                ),
                "loss": curves(run.history, "style transfer loss terms"),
            },
            tensors={"stylized": x.cpu()},
            history=run.history,
        )
