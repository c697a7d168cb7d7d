"""Fast (feed-forward) style transfer (Johnson et al. 2016; lecture 21.12.2): train a small
transformation network T for one style on the built-in photos with the perceptual loss
alpha L_content(T(x), x) + beta L_style(T(x), s) + TV, save it into the run directory, then
stylize any image with one forward pass. ``method.checkpoint=<path>`` skips training."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from vizlab.data.reference_set import photo_set
from vizlab.methods.base import Method, Result, RunContext
from vizlab.methods.style_options import PerceptualOptions
from vizlab.models.wrapper import InputSpec
from vizlab.plotting import curves, grid, labelled_grid
from vizlab.schema import check_positive, require
from vizlab.style import (
    PerceptualLoss,
    TransformerNet,
    image_tensor,
    load_transformer,
    save_transformer,
)
from vizlab.style.layers import content_layers, style_layers
from vizlab.style.size import working_size
from vizlab.style.train import stylize_timed, train_transformer


def run_directory(output_dir: str | None) -> Path:
    """Hydra's output directory of this run, else ``output_dir``."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return Path(HydraConfig.get().runtime.output_dir)
    except Exception:  # noqa: BLE001 - not running under @hydra.main
        return Path(output_dir or "outputs/fast_style")


@dataclass
class FastStyleOptions(PerceptualOptions):
    checkpoint: str | None
    output_dir: str | None
    train_size: int
    steps: int
    batch_size: int
    lr: float
    channels: list[int]
    residual_blocks: int

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in ("train_size", "steps", "batch_size", "residual_blocks"):
            check_positive(key, getattr(self, key), integer=True)
        check_positive("lr", self.lr)
        require(
            len(self.channels) == 3 and all(c > 0 for c in self.channels),
            "channels",
            self.channels,
            "must be three positive widths, e.g. [16, 32, 64]",
        )


class FastStyle(Method):
    name = "fast_style"
    description = "Train a feed-forward style network, then stylize in one pass (Johnson 2016)"
    Options = FastStyleOptions

    def run(self, ctx: RunContext) -> Result:
        opts: FastStyleOptions = ctx.options
        model = ctx.model
        loss = PerceptualLoss(
            model,
            style_layers(model, opts.style_layers),
            content_layers(model, opts.content_layers),
            opts.style_layer_weights,
        )
        if opts.checkpoint:
            net, meta = load_transformer(opts.checkpoint)
            style_name = str(meta.get("style", opts.style))
            metrics = {"trained": False, "checkpoint": str(Path(opts.checkpoint).expanduser())}
            history: dict[str, list[float]] = {}
        else:
            style_name = opts.style
            net, metrics, history = self._train(ctx, loss, style_name)
        metrics["style"] = style_name
        return self._stylize(ctx, net.to(ctx.device), loss, style_name, metrics, history)

    @staticmethod
    def _train(
        ctx: RunContext, loss: PerceptualLoss, style_name: str
    ) -> tuple[TransformerNet, dict, dict[str, list[float]]]:
        """Train a new network on the built-in photos (+ quadrant crops) and save it into the
        run directory; returns it with its training metrics and loss history."""
        opts: FastStyleOptions = ctx.options
        model = ctx.model
        steps = opts.steps
        train_size = working_size(model, opts.train_size)[0]
        net = TransformerNet(tuple(opts.channels), opts.residual_blocks).to(ctx.device)
        spec = InputSpec((train_size, train_size), (0.5,) * 3, (0.5,) * 3, "bicubic", 1.0)
        images, _ = photo_set(spec, crops=True)
        style = image_tensor(style_name, opts.style_size or train_size)
        loss.set_style(style.to(ctx.device))
        start = time.perf_counter()
        history = train_transformer(
            net,
            loss,
            images.to(ctx.device),
            steps=steps,
            batch_size=opts.batch_size,
            lr=opts.lr,
            content_weight=opts.content_weight,
            style_weight=opts.style_weight,
            tv_weight=opts.tv_weight,
            generator=ctx.generator(),
            progress=ctx.progress,
        )
        seconds = time.perf_counter() - start
        path = save_transformer(
            net,
            run_directory(opts.output_dir) / f"fast_style_{Path(style_name).stem}.pt",
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
            out, times = stylize_timed(net, content)
            size = tuple(content.shape[-2:])
            loss.set_style(image_tensor(style_name, size).to(ctx.device))
            style_before = loss.style_loss(loss.features(content, loss.style_layers))
            style_after = loss.style_loss(loss.features(out, loss.style_layers))
        metrics.update(
            stylize_ms_per_image=1000 * statistics.median(times),
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
