"""ViT attention views: per-head CLS attention maps of one block, and attention rollout
(Abnar & Zuidema 2020, Sect. 3) over all blocks, overlaid on the photo (the library is
:mod:`vizlab.attribution.attention`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vizlab.attribution.attention import (
    HEAD_FUSIONS,
    attention_modules,
    attention_probabilities,
    attention_rollout,
    normalized_entropy,
)
from vizlab.errors import VizlabError
from vizlab.methods.base import Method, Result, RunContext
from vizlab.plotting import (
    check_colormap,
    grid,
    heat_overlay,
    labelled_grid,
    minmax,
    resize_maps,
)
from vizlab.schema import check_choice, check_range, require
from vizlab.targets.tokens import TokenLayout

UPSAMPLE = ("nearest", "bilinear")


@dataclass
class ViTAttentionOptions:
    name: str
    block: int
    head_fusion: str
    discard_ratio: float
    residual: bool
    rollout_skip: int
    alpha: float
    colormap: str
    upsample: str
    seed: int

    def __post_init__(self) -> None:
        check_choice("head_fusion", self.head_fusion, HEAD_FUSIONS)
        require(0.0 <= self.discard_ratio < 1.0, "discard_ratio", self.discard_ratio,
                "must be in [0, 1)")  # fmt: skip
        check_range("rollout_skip", self.rollout_skip, 0)
        check_range("alpha", self.alpha, 0.0, 1.0)
        check_colormap("colormap", self.colormap)
        check_choice("upsample", self.upsample, UPSAMPLE)


def overlay(photos: torch.Tensor, maps: torch.Tensor, alpha: float, cmap: str, upsample: str):
    """Heat maps (N x h x w, any range; min-max scaled each) resized to the photos (N x 3 x H
    x W in [0, 1]), coloured and blended over them with a constant opacity."""
    heat = resize_maps(minmax(maps, (1, 2)), photos.shape[-2:], upsample).clamp(0, 1)
    return heat_overlay(photos, heat, cmap, alpha, weighted=False)


class ViTAttention(Method):
    """Per-head CLS attention of ``method.block`` and the rollout over all blocks, for every
    reference photo, as a labelled grid of overlays."""

    name = "vit_attention"
    description = "Per-head CLS attention and attention rollout of a ViT on a photo"
    Options = ViTAttentionOptions

    def run(self, ctx: RunContext) -> Result:
        opts: ViTAttentionOptions = ctx.options
        model = ctx.model
        layout = TokenLayout.from_model(model)
        if not layout.has_cls:
            raise VizlabError(
                f"method=vit_attention shows the CLS token's attention, but {model.name} has no "
                "class token (global average pooling). Pick a ViT with a CLS token."
            )
        names = [n for n, _ in attention_modules(model.module)]
        if not names:
            raise VizlabError(
                f"{model.name} has no timm attention modules (with fused_attn and attn_drop), so "
                "its attention probabilities cannot be captured."
            )
        block, skip = _blocks(opts, len(names))
        fusion, discard = opts.head_fusion, opts.discard_ratio

        photos = ctx.references.images.to(ctx.device)
        with attention_probabilities(model.module) as store, torch.no_grad():
            model.module(model.units.unit_to_model(photos))
        attentions = [store[n].float().cpu() for n in names]
        prefix, (gh, gw) = layout.num_prefix, layout.grid
        if attentions[0].shape[-1] != layout.num_tokens:
            raise VizlabError(
                f"The attention maps have {attentions[0].shape[-1]} tokens, but the token layout "
                f"is {prefix} prefix + {gh}x{gw} patches; is data.size a multiple of the patch?"
            )
        n, chosen = photos.shape[0], attentions[block]
        heads = chosen.shape[1]
        cls_maps = chosen[:, :, 0, prefix:].reshape(n, heads, gh, gw)
        residual = opts.residual
        rollouts = {"rollout": attention_rollout(attentions, fusion, discard, residual)}
        if skip:  # e.g. DINOv2's block 0 sends nearly all attention to one token
            rollouts["rollout_skip"] = attention_rollout(
                attentions[skip:], fusion, discard, residual
            )
        rollout_maps = {k: r[:, 0, prefix:].reshape(n, gh, gw) for k, r in rollouts.items()}
        per_block = torch.stack([a.mean(1)[:, 0, prefix:] for a in attentions], 1)

        paint = {"alpha": opts.alpha, "cmap": opts.colormap, "upsample": opts.upsample}
        photos_cpu = photos.cpu()
        block_name = names[block].removesuffix(".attn")
        panel_labels = [f"{block_name} head {h}" for h in range(heads)]
        panel_labels += [f"{block_name} mean of heads", f"rollout ({fusion}, discard {discard:g})"]
        if skip:
            panel_labels.append(f"rollout from {names[skip].removesuffix('.attn')}")
        tiles, labels = [], []
        for i in range(n):
            maps = torch.cat(
                [cls_maps[i], cls_maps[i].mean(0, keepdim=True)]
                + [r[i][None] for r in rollout_maps.values()]
            )
            photo = photos_cpu[i : i + 1]
            tiles += [photo, overlay(photo.expand(len(maps), -1, -1, -1), maps, **paint)]
            name = ctx.references.names[i] if i < len(ctx.references.names) else f"image {i}"
            labels += [name] + panel_labels
        tiles_t, ncols = torch.cat(tiles), len(panel_labels) + 1
        block_tiles = overlay(
            photos_cpu.repeat_interleave(len(names), 0),
            per_block.reshape(n * len(names), gh, gw),
            **paint,
        )
        block_labels = [b.removesuffix(".attn") for _ in range(n) for b in names]

        metrics = {
            "block": block_name,
            "num_heads": heads,
            "token_grid": [gh, gw],
            "num_prefix_tokens": prefix,
            "head_fusion": fusion,
            "discard_ratio": discard,
            "head_entropy": normalized_entropy(chosen[:, :, 0, prefix:]).mean(0).tolist(),
            "cls_attention_to_prefix": float(chosen[:, :, 0, :prefix].sum(-1).mean()),
        }
        for key, m in rollout_maps.items():
            metrics[f"{key}_entropy"] = float(normalized_entropy(m.flatten(1)).mean())
            metrics[f"{key}_max_token_share"] = float(m.flatten(1).amax(1).mean())
        return Result(
            images={"attention": grid(tiles_t, nrow=ncols)},
            metrics=metrics,
            figures={
                "attention_heads": labelled_grid(
                    tiles_t, labels, ncols, f"{model.name}: CLS attention per head and rollout"
                ),
                "cls_attention_by_block": labelled_grid(
                    block_tiles,
                    block_labels,
                    min(len(names), 6),
                    f"{model.name}: CLS attention (mean of heads) per block",
                ),
            },
            tensors={
                "cls_attention": cls_maps,
                "cls_attention_by_block": per_block.reshape(n, len(names), gh, gw),
                **rollout_maps,
            },
        )


def _blocks(opts: ViTAttentionOptions, num_blocks: int) -> tuple[int, int]:
    """(block, rollout_skip), checked against the model's number of attention blocks."""
    if not -num_blocks <= opts.block < num_blocks:
        raise VizlabError(
            f"method.block={opts.block} is out of range: the model has {num_blocks} attention "
            f"blocks, so valid values are 0..{num_blocks - 1} (or -1 for the last)."
        )
    if opts.rollout_skip >= num_blocks:
        raise VizlabError(
            f"method.rollout_skip={opts.rollout_skip} must be in 0..{num_blocks - 1} (blocks "
            "left out at the start of the extra rollout panel; 0 hides it)."
        )
    return opts.block, opts.rollout_skip
