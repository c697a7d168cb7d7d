"""Neural texture synthesis (Gatys et al. 2015; lecture 21.11): from noise, match the Gram
matrices of a texture image over chosen layers, by L-BFGS or Adam."""

from __future__ import annotations

import logging

import torch

from vizlab.errors import VizlabError
from vizlab.methods.base import Method, Result, RunContext
from vizlab.plotting import curves, grid, labelled_grid
from vizlab.style import PerceptualLoss, image_tensor, total_variation
from vizlab.style.checks import positive_int
from vizlab.style.layers import style_layers
from vizlab.style.optimize import optimize_from_config

log = logging.getLogger(__name__)


def working_size(ctx: RunContext, value) -> tuple[int, int]:
    """``method.size`` (int) or the model's working input size. A ViT needs sides that are
    multiples of its patch size: other sizes are rounded to the nearest multiple (with a
    warning), so the CNN-sized defaults (128 px) also work for e.g. DINOv2's 14 px patches.
    A ViT built without ``dynamic_img_size`` takes only its own input size."""
    size = (int(value), int(value)) if value else tuple(ctx.model.spec.size)
    embed = getattr(ctx.model.module, "patch_embed", None)
    if embed is None:
        return size
    patch = tuple(embed.patch_size)
    if size[0] % patch[0] or size[1] % patch[1]:
        fitted = tuple(max(p, p * round(s / p)) for s, p in zip(size, patch))
        log.warning(
            "method.size=%s is not a multiple of %s's %d px patches: using %d x %d instead.",
            value,
            ctx.model.name,
            patch[0],
            fitted[0],
            fitted[1],
        )
        size = fitted
    own = tuple(embed.img_size)
    if getattr(embed, "strict_img_size", False) and size != own:
        raise VizlabError(
            f"method.size={value} does not fit {ctx.model.name}, which takes only {own[0]} px "
            "images (built without dynamic_img_size). Use method.size=null or "
            f"method.size={own[0]}."
        )
    return size


class Texture(Method):
    name = "texture"
    description = "Gram-matrix texture synthesis from a texture photo (Gatys et al. 2015)"

    def run(self, ctx: RunContext) -> Result:
        cfg, model = ctx.method_cfg, ctx.model
        size = working_size(ctx, cfg.get("size"))
        source = image_tensor(str(cfg.source), cfg.get("source_size") or size, "method.source")
        source = source.to(ctx.device)
        layers = style_layers(model, cfg.get("layers"))
        loss = PerceptualLoss(model, layers, style_weights=cfg.get("layer_weights"))
        loss.set_style(source)
        n = positive_int(cfg, "num_samples", 1)
        noise = torch.rand((n, 3, *size), generator=ctx.generator()).to(ctx.device)
        x0 = 0.5 + float(cfg.get("init_scale", 0.1)) * (noise - 0.5)
        tv_weight = float(cfg.get("tv_weight", 0.0))

        def objective(x: torch.Tensor) -> dict[str, torch.Tensor]:
            terms = {k: v.mean() for k, v in loss.style_terms(loss.features(x)).items()}
            terms["total"] = torch.stack(list(terms.values())).sum()
            if tv_weight:
                terms["tv"] = tv_weight * total_variation(x).mean()
                terms["total"] = terms["total"] + terms["tv"]
            return terms

        run = optimize_from_config(
            x0, objective, cfg, progress=ctx.progress, desc=f"texture {cfg.source}"
        )
        x, initial, final, seconds = run.image, run.before, run.after, run.seconds
        metrics = {
            "source": str(cfg.source),
            "layers": layers,
            "optimizer": str(cfg.optimizer),
            "iterations": int(cfg.iterations),
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
        labels = [f"source: {cfg.source}"] + [
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
