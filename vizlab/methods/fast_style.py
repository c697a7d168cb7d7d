"""Fast (feed-forward) style transfer (Johnson et al. 2016; lecture 21.12.2): train a small
transformation network T for one style on the built-in photos with the perceptual loss
alpha L_content(T(x), x) + beta L_style(T(x), s) + TV, save it into the run directory, then
stylize any image with one forward pass. ``method.checkpoint=<path>`` skips training."""

from __future__ import annotations

import time
from pathlib import Path

import torch
from omegaconf import DictConfig
from tqdm.auto import tqdm

from vizlab.data.reference_set import photo_set
from vizlab.methods.base import Method, Result, RunContext
from vizlab.methods.texture import working_size
from vizlab.models.wrapper import InputSpec
from vizlab.plotting import curves, grid, labelled_grid
from vizlab.style import (
    PerceptualLoss,
    TransformerNet,
    image_tensor,
    load_transformer,
    save_transformer,
    total_variation,
)
from vizlab.style.checks import positive_int
from vizlab.style.layers import content_layers, style_layers


def run_directory(cfg: DictConfig) -> Path:
    """Hydra's output directory of this run, else ``method.output_dir``."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return Path(HydraConfig.get().runtime.output_dir)
    except Exception:  # noqa: BLE001 - not running under @hydra.main
        return Path(cfg.get("output_dir") or "outputs/fast_style")


def train_transformer(
    net: TransformerNet,
    loss: PerceptualLoss,
    images: torch.Tensor,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    content_weight: float,
    style_weight: float,
    tv_weight: float,
    generator: torch.Generator,
    progress: bool = False,
) -> dict[str, list[float]]:
    """Adam on the perceptual loss over random mini-batches (with horizontal flips) of
    ``images``; returns the per-step loss terms."""
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    history: dict[str, list[float]] = {}
    net.train()
    for _ in tqdm(range(steps), desc="fast style training", disable=not progress, leave=False):
        idx = torch.randint(len(images), (batch_size,), generator=generator)
        batch = images[idx]
        flip = torch.rand(batch_size, generator=generator) < 0.5
        batch = torch.where(flip.view(-1, 1, 1, 1).to(batch.device), batch.flip(-1), batch)
        targets = loss.content_targets(batch)
        out = net(batch)
        feats = loss.features(out)
        terms = {
            "content": content_weight * loss.content_loss(feats, targets).mean(),
            "style": style_weight * loss.style_loss(feats).mean(),
            "tv": tv_weight * total_variation(out).mean(),
        }
        total = terms["content"] + terms["style"] + terms["tv"]
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        terms["total"] = total
        for name, value in terms.items():
            history.setdefault(name, []).append(float(value.detach()))
    net.eval()
    return history


@torch.no_grad()
def stylize_timed(
    net: TransformerNet, x: torch.Tensor, repeats: int = 3
) -> tuple[torch.Tensor, float]:
    """One forward pass of ``x`` and its time in seconds: the median of ``repeats`` timed
    passes, so one scheduling hiccup on a shared CPU does not decide the reported time."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = net(x)
        times.append(time.perf_counter() - start)
    return out, sorted(times)[len(times) // 2]


class FastStyle(Method):
    name = "fast_style"
    description = "Train a feed-forward style network, then stylize in one pass (Johnson 2016)"

    def run(self, ctx: RunContext) -> Result:
        cfg, model = ctx.method_cfg, ctx.model
        loss = PerceptualLoss(
            model,
            style_layers(model, cfg.get("style_layers")),
            content_layers(model, cfg.get("content_layers")),
            cfg.get("style_layer_weights"),
        )
        if cfg.get("checkpoint"):
            net, meta = load_transformer(cfg.checkpoint)
            style_name = str(meta.get("style", cfg.style))
            metrics = {"trained": False, "checkpoint": str(Path(cfg.checkpoint).expanduser())}
            history: dict[str, list[float]] = {}
        else:
            style_name = str(cfg.style)
            net, metrics, history = self._train(ctx, loss, style_name)
        metrics["style"] = style_name
        return self._stylize(ctx, net.to(ctx.device), loss, style_name, metrics, history)

    @staticmethod
    def _train(
        ctx: RunContext, loss: PerceptualLoss, style_name: str
    ) -> tuple[TransformerNet, dict, dict[str, list[float]]]:
        """Train a new network on the built-in photos (+ quadrant crops) and save it into the
        run directory; returns it with its training metrics and loss history."""
        cfg, model = ctx.method_cfg, ctx.model
        steps = positive_int(cfg, "steps", 100)
        train_size = working_size(ctx, positive_int(cfg, "train_size", 128))[0]
        net = TransformerNet(tuple(cfg.channels), int(cfg.residual_blocks)).to(ctx.device)
        spec = InputSpec((train_size, train_size), (0.5,) * 3, (0.5,) * 3, "bicubic", 1.0)
        images, _ = photo_set(spec, crops=True)
        style = image_tensor(style_name, cfg.get("style_size") or train_size)
        loss.set_style(style.to(ctx.device))
        start = time.perf_counter()
        history = train_transformer(
            net,
            loss,
            images.to(ctx.device),
            steps=steps,
            batch_size=positive_int(cfg, "batch_size", 4),
            lr=float(cfg.lr),
            content_weight=float(cfg.content_weight),
            style_weight=float(cfg.style_weight),
            tv_weight=float(cfg.get("tv_weight", 0.0)),
            generator=ctx.generator(),
            progress=ctx.progress,
        )
        seconds = time.perf_counter() - start
        path = save_transformer(
            net,
            run_directory(cfg) / f"fast_style_{Path(style_name).stem}.pt",
            style=style_name,
            model=model.name,
            style_layers=loss.style_layers,
            content_layers=loss.content_layers,
            steps=steps,
        )
        n = max(1, min(10, steps // 10))  # the last loss is the mean of the last n steps
        metrics = {
            "trained": True,
            "checkpoint": str(path),
            "train_images": len(images),
            "train_size": train_size,
            "train_steps": steps,
            "train_seconds": seconds,
            "train_seconds_per_step": seconds / steps,
            "train_loss_first": history["total"][0],
            "train_loss_last": sum(history["total"][-n:]) / n,
        }
        return net, metrics, history

    @staticmethod
    def _stylize(ctx, net, loss, style_name, metrics, history) -> Result:
        content = ctx.references.images.to(ctx.device)
        with torch.no_grad():
            net(content[:1])  # warm-up, not timed
            timed = [stylize_timed(net, content[i : i + 1]) for i in range(len(content))]
            out = torch.cat([o for o, _ in timed])
            times = [t for _, t in timed]
            size = tuple(content.shape[-2:])
            loss.set_style(image_tensor(style_name, size).to(ctx.device))
            style_before = loss.style_loss(loss.features(content, loss.style_layers))
            style_after = loss.style_loss(loss.features(out, loss.style_layers))
        metrics.update(
            stylize_ms_per_image=1000 * sum(times) / len(times),
            stylize_size=size[0],
            style_loss_content_images=style_before.mean().item(),
            style_loss_stylized=style_after.mean().item(),
        )
        style_tile = image_tensor(style_name, size).to(ctx.device)[0]
        tiles = torch.cat([torch.stack([style_tile, c, o]) for c, o in zip(content, out)])
        labels = []
        for name in ctx.references.names:
            labels += [f"style: {style_name}", f"content: {name}", "stylized (one pass)"]
        figures = {
            "comparison_labelled": labelled_grid(
                tiles.cpu(),
                labels,
                3,
                f"Fast style transfer ({metrics['stylize_ms_per_image']:.0f} ms / image)",
                3.0,
            )
        }
        if history:
            figures["training_loss"] = curves(history, "fast style training loss")
        return Result(
            images={"stylized": grid(out.cpu(), nrow=min(5, len(out)))},
            metrics=metrics,
            figures=figures,
            tensors={"stylized": out.cpu()},
            history=history,
        )
