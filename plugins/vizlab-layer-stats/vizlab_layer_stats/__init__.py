"""Per-channel activation statistics of a layer (an example vizlab plugin)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from matplotlib.figure import Figure

from vizlab.methods.base import Method, Result, RunContext
from vizlab.schema import check_positive, typed


@dataclass
class LayerStatsOptions:
    """``top_k`` >= 1 channels listed by mean activation (a plugin's options, typed)."""

    name: str
    top_k: int
    seed: int

    def __post_init__(self) -> None:
        check_positive("top_k", self.top_k, integer=True)


class LayerStats(Method):
    name = "layer_stats"
    description = "Per-channel mean and sparsity of a layer over the reference images"
    Options = LayerStatsOptions

    def run(self, ctx: RunContext) -> Result:
        opts = ctx.options or typed(LayerStatsOptions, ctx.cfg.method, "method")
        model, layer = ctx.model, ctx.target.layer
        images = model.units.unit_to_model(ctx.references.images.to(ctx.device))
        with torch.inference_mode():
            act = model.features(images, [layer])[layer]
        act = act.transpose(1, 2) if act.dim() == 3 else act  # ViT tokens -> N x D x T
        per_channel = act.flatten(2) if act.dim() > 2 else act.unsqueeze(-1)
        mean = per_channel.mean(dim=(0, 2)).cpu()
        inactive = (per_channel <= 0).float().mean(dim=(0, 2)).cpu()
        k = min(opts.top_k, mean.numel())
        top = mean.topk(k)
        fig = Figure(figsize=(10, 3.2))
        axes = fig.subplots(1, 2)
        axes[0].bar(range(mean.numel()), mean.numpy(), width=1.0)
        axes[0].set_title(f"{layer}: mean activation per channel", fontsize=9)
        axes[1].hist(inactive.numpy(), bins=20)
        axes[1].set_title("fraction of non-positive responses per channel", fontsize=9)
        fig.tight_layout()
        return Result(
            metrics={
                "layer": layer,
                "channels": int(mean.numel()),
                "mean_activation": float(mean.mean()),
                "fraction_inactive": float(inactive.mean()),
                "top_channels": top.indices.tolist(),
                "top_channel_means": [round(float(v), 5) for v in top.values],
            },
            figures={"layer_stats": fig},
        )
