"""Neural style transfer (Gatys et al. 2016; lecture 21.12.1): an image that keeps the content
features of a photo at a deep layer and takes the Gram matrices of a style image at several
layers, L = alpha L_content + beta L_style (+ an optional TV prior), by L-BFGS or Adam."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vizlab.methods.base import Method, Result, RunContext
from vizlab.methods.texture import working_size
from vizlab.plotting import curves, grid, labelled_grid
from vizlab.style import PerceptualLoss, image_tensor, total_variation
from vizlab.style.checks import one_of
from vizlab.style.layers import content_layers, style_layers
from vizlab.style.optimize import optimize_from_config


class StyleTransfer(Method):
    name = "style_transfer"
    description = "Content + Gram style loss image optimization (Gatys et al. 2016)"

    def run(self, ctx: RunContext) -> Result:
        cfg, model = ctx.method_cfg, ctx.model
        size = working_size(ctx, cfg.get("size"))
        content = ctx.references.images.to(ctx.device)
        if tuple(content.shape[-2:]) != size:
            content = F.interpolate(content, size=size, mode="bicubic", antialias=True)
            content = content.clamp(0, 1)
        style = image_tensor(str(cfg.style), cfg.get("style_size") or size).to(ctx.device)
        loss = PerceptualLoss(
            model,
            style_layers(model, cfg.get("style_layers")),
            content_layers(model, cfg.get("content_layers")),
            cfg.get("style_layer_weights"),
        )
        loss.set_style(style)
        targets = loss.content_targets(content)
        alpha, beta = float(cfg.content_weight), float(cfg.style_weight)
        tv_weight = float(cfg.get("tv_weight", 0.0))

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

        if one_of(cfg, "init", ("content", "noise"), "content") == "content":
            x0 = content
        else:
            x0 = torch.rand(content.shape, generator=ctx.generator()).to(content)
        run = optimize_from_config(
            x0,
            objective,
            cfg,
            baseline=content,
            progress=ctx.progress,
            desc=f"style transfer {cfg.style}",
        )
        x, before, after = run.image, run.before, run.after
        metrics = {
            "style": str(cfg.style),
            "content_images": list(ctx.references.names),
            "style_layers": loss.style_layers,
            "content_layers": loss.content_layers,
            "content_weight": alpha,
            "style_weight": beta,
            "optimizer": str(cfg.optimizer),
            "iterations": int(cfg.iterations),
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
            labels += [f"content: {name}", f"style: {cfg.style}", "stylized"]
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
