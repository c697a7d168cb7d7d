"""Per-channel activation statistics of a layer (an example vizlab plugin)."""

from __future__ import annotations

import torch

from vizlab.methods.base import Method, Result, RunContext
from vizlab.plotting import plt


class LayerStats(Method):
    name = "layer_stats"
    description = "Per-channel mean and sparsity of a layer over the reference images"

    def run(self, ctx: RunContext) -> Result:
        model, layer = ctx.model, ctx.target.layer
        images = model.units.unit_to_model(ctx.references.images.to(ctx.device))
        with torch.inference_mode():
            act = model.features(images, [layer])[layer]
        act = act.transpose(1, 2) if act.dim() == 3 else act  # ViT tokens -> N x D x T
        per_channel = act.flatten(2) if act.dim() > 2 else act.unsqueeze(-1)
        mean = per_channel.mean(dim=(0, 2)).cpu()
        inactive = (per_channel <= 0).float().mean(dim=(0, 2)).cpu()
        k = min(int(ctx.method_cfg.get("top_k", 16)), mean.numel())
        top = mean.topk(k)
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
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
