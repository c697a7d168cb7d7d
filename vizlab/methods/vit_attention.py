"""ViT attention views: per-head CLS attention maps of one block, and attention rollout
(Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers", Sect. 3).

Rollout: with A_l the head-fused attention of block l, Ã_l = 0.5 A_l + 0.5 I (the residual
connection), rows renormalized; the attention of the output tokens to the input tokens is
Ã_L ... Ã_1. An optional discard ratio zeroes the weakest weights of each A_l first (the
"vit-explain" variant). Both maps show the CLS token's row over the patch grid, overlaid on the
photo. Works on any timm ViT whose blocks use ``timm.layers.Attention`` (or a variant with
``fused_attn`` and ``attn_drop``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vizlab.errors import VizlabError
from vizlab.methods.base import Method, Result, RunContext
from vizlab.plotting import grid, labelled_grid
from vizlab.targets.tokens import TokenLayout

HEAD_FUSIONS = ("mean", "max", "min")


def attention_modules(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """timm attention modules (they have ``fused_attn`` and an ``attn_drop`` after softmax)."""
    return [
        (name, m)
        for name, m in module.named_modules()
        if hasattr(m, "fused_attn") and isinstance(getattr(m, "attn_drop", None), nn.Module)
    ]


@contextmanager
def attention_probabilities(module: nn.Module) -> Iterator[dict[str, torch.Tensor]]:
    """Record every block's attention probabilities (N x heads x T x T) during forward passes
    inside the block.

    timm's fused ``scaled_dot_product_attention`` never materializes them, so inside the block
    ``fused_attn`` is False and a hook on ``attn_drop`` (applied right after the softmax) stores
    its output. Flags and hooks are always restored.
    """
    found = attention_modules(module)
    store: dict[str, torch.Tensor] = {}
    saved = [(m, m.fused_attn) for _, m in found]
    handles = []
    try:
        for name, m in found:
            m.fused_attn = False
            handles.append(
                m.attn_drop.register_forward_hook(
                    lambda _m, _i, out, name=name: store.__setitem__(name, out.detach())
                )
            )
        yield store
    finally:
        for handle in handles:
            handle.remove()
        for m, fused in saved:
            m.fused_attn = fused


def fuse_heads(attn: torch.Tensor, how: str = "mean") -> torch.Tensor:
    """N x heads x T x T -> N x T x T by the mean, max or min over heads."""
    if how == "mean":
        return attn.mean(1)
    if how == "max":
        return attn.amax(1)
    if how == "min":
        return attn.amin(1)
    raise VizlabError(
        f"method.head_fusion='{how}' is unknown; use one of {', '.join(HEAD_FUSIONS)}."
    )


def discard_lowest(attn: torch.Tensor, ratio: float) -> torch.Tensor:
    """Zero the ``ratio`` fraction of smallest weights of each N x T x T map, except the
    CLS-to-CLS weight (as in the vit-explain reference implementation)."""
    if ratio <= 0:
        return attn
    n, t, _ = attn.shape
    flat = attn.reshape(n, t * t).clone()
    k = int(t * t * ratio)
    if k == 0:
        return attn
    keep_cls = flat[:, 0].clone()
    drop = flat.topk(k, dim=-1, largest=False).indices
    flat.scatter_(1, drop, 0.0)
    flat[:, 0] = keep_cls
    return flat.view(n, t, t)


def attention_rollout(
    attentions: Sequence[torch.Tensor],
    head_fusion: str = "mean",
    discard_ratio: float = 0.0,
    residual: bool = True,
) -> torch.Tensor:
    """Abnar & Zuidema's rollout Ã_L ... Ã_1 (N x T x T) of per-block N x heads x T x T maps."""
    first = attentions[0]
    n, _, t, _ = first.shape
    eye = torch.eye(t, dtype=first.dtype, device=first.device).expand(n, t, t)
    result = eye
    for attn in attentions:
        a = discard_lowest(fuse_heads(attn, head_fusion), discard_ratio)
        if residual:
            a = 0.5 * a + 0.5 * eye
        a = a / a.sum(-1, keepdim=True).clamp_min(1e-12)
        result = a @ result
    return result


def normalized_entropy(p: torch.Tensor) -> torch.Tensor:
    """Entropy of distributions over the last axis divided by log(size): 0 = one patch,
    1 = uniform."""
    p = p / p.sum(-1, keepdim=True).clamp_min(1e-12)
    h = -(p * p.clamp_min(1e-12).log()).sum(-1)
    return h / np.log(p.shape[-1])


def overlay(
    photos: torch.Tensor, maps: torch.Tensor, alpha: float, cmap: str, upsample: str
) -> torch.Tensor:
    """Heat maps (N x h x w, any range; min-max normalized each) coloured and blended over
    N x 3 x H x W photos in [0, 1]."""
    from matplotlib import colormaps

    lo = maps.flatten(1).min(1).values.view(-1, 1, 1)
    hi = maps.flatten(1).max(1).values.view(-1, 1, 1)
    heat = (maps - lo) / (hi - lo).clamp_min(1e-12)
    kwargs = {"align_corners": False} if upsample in ("bilinear", "bicubic") else {}
    heat = F.interpolate(heat[:, None], size=photos.shape[-2:], mode=upsample, **kwargs)
    heat = heat[:, 0].clamp(0, 1)
    colour = torch.from_numpy(colormaps[cmap](heat.cpu().numpy())[..., :3]).float()
    colour = colour.permute(0, 3, 1, 2)
    return (1 - alpha) * photos.cpu() + alpha * colour


class ViTAttention(Method):
    """Per-head CLS attention of ``method.block`` and the rollout over all blocks, for every
    reference photo, as a labelled grid of overlays."""

    name = "vit_attention"
    description = "Per-head CLS attention and attention rollout of a ViT on a photo"

    def run(self, ctx: RunContext) -> Result:
        cfg, model = ctx.method_cfg, ctx.model
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
        block, fusion, discard, skip = _options(cfg, len(names))

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
        residual = bool(cfg.get("residual", True))
        rollouts = {"rollout": attention_rollout(attentions, fusion, discard, residual)}
        if skip:  # e.g. DINOv2's block 0 sends nearly all attention to one token
            rollouts["rollout_skip"] = attention_rollout(
                attentions[skip:], fusion, discard, residual
            )
        rollout_maps = {k: r[:, 0, prefix:].reshape(n, gh, gw) for k, r in rollouts.items()}
        per_block = torch.stack([a.mean(1)[:, 0, prefix:] for a in attentions], 1)

        paint = {
            "alpha": float(cfg.get("alpha", 0.6)),
            "cmap": str(cfg.get("colormap", "inferno")),
            "upsample": str(cfg.get("upsample", "nearest")),
        }
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


def _options(cfg, num_blocks: int) -> tuple[int, str, float, int]:
    """(block, head_fusion, discard_ratio, rollout_skip) from the method config, validated."""
    block = int(cfg.get("block", -1))
    if not -num_blocks <= block < num_blocks:
        raise VizlabError(
            f"method.block={block} is out of range: the model has {num_blocks} attention blocks, "
            f"so valid values are 0..{num_blocks - 1} (or -1 for the last)."
        )
    fusion = str(cfg.get("head_fusion", "mean"))
    if fusion not in HEAD_FUSIONS:
        raise VizlabError(
            f"method.head_fusion='{fusion}' is unknown; use one of {', '.join(HEAD_FUSIONS)}."
        )
    discard = float(cfg.get("discard_ratio", 0.0))
    if not 0.0 <= discard < 1.0:
        raise VizlabError(f"method.discard_ratio={discard} must be in [0, 1).")
    skip = int(cfg.get("rollout_skip") or 0)
    if not 0 <= skip < num_blocks:
        raise VizlabError(
            f"method.rollout_skip={skip} must be in 0..{num_blocks - 1} (blocks left out at the "
            "start of the extra rollout panel; 0 hides it)."
        )
    return block, fusion, discard, skip
