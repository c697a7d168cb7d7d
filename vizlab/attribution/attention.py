"""Attention of timm Vision Transformers: capture of every block's attention probabilities,
and attention rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers",
Sect. 3).

Rollout: with A_l the head-fused attention of block l, Ã_l = 0.5 A_l + 0.5 I (the residual
connection), rows renormalized; the attention of the output tokens to the input tokens is
Ã_L ... Ã_1. An optional discard ratio zeroes the weakest weights of each A_l first (the
"vit-explain" variant). Works on any timm ViT whose blocks use ``timm.layers.Attention`` (or a
variant with ``fused_attn`` and ``attn_drop``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from vizlab.errors import VizlabError

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
