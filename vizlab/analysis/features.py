"""Batched feature extraction over an image set (lecture 21.2-21.3).

One truncated forward pass per batch (``VisionModel.features`` stops at the layer) under
``torch.inference_mode``. ViT token outputs N x T x D become spatial maps N x D x h x w by
dropping the prefix tokens (``num_prefix_tokens``: class and register tokens) and laying the
patch tokens on timm's patch grid (``patch_embed.dynamic_feat_size``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from vizlab.errors import VizlabError
from vizlab.models.wrapper import VisionModel

POOLS = ("avg", "max", "flatten", "cls")
"""How a layer's output becomes one vector per image: average or max over positions (or patch
tokens), flatten everything, or the ViT class token."""


def _vit_grid(model: VisionModel, image_hw: tuple[int, int]) -> tuple[int, int]:
    embed = model.module.patch_embed
    if hasattr(embed, "dynamic_feat_size"):
        return tuple(int(s) for s in embed.dynamic_feat_size(tuple(image_hw)))
    return tuple(int(s) for s in embed.grid_size)


def spatial_map(
    model: VisionModel, act: torch.Tensor, layer: str, image_hw: tuple[int, int]
) -> torch.Tensor:
    """``act`` as N x C x h x w: conv maps as they are, ViT tokens (N x T x D, or the NHWC
    output of a dynamic-size ``patch_embed``) on the patch grid without prefix tokens."""
    if model.is_vit:
        dim = int(getattr(model.module, "embed_dim", act.shape[-1]))
        if act.dim() == 4 and act.shape[1] != dim and act.shape[-1] == dim:
            return act.permute(0, 3, 1, 2)
        if act.dim() == 3:
            prefix = int(model.module.num_prefix_tokens)
            gh, gw = _vit_grid(model, image_hw)
            patches = act[:, prefix:]
            if patches.shape[1] != gh * gw:
                raise VizlabError(
                    f"'{layer}' has {act.shape[1]} tokens, but {prefix} prefix tokens plus a "
                    f"{gh}x{gw} patch grid make {prefix + gh * gw}; it is not a token layer of "
                    "the patch grid. Use a transformer block, e.g. target.layer=blocks.0."
                )
            return patches.transpose(1, 2).reshape(act.shape[0], -1, gh, gw)
    if act.dim() == 4:
        return act
    raise VizlabError(
        f"'{layer}' outputs {tuple(act.shape[1:])} per image, which has no spatial layout. "
        "Choose a convolutional layer (e.g. blocks.2) or a ViT block (e.g. blocks.0) with "
        "target.layer=..."
    )


def pool_features(
    model: VisionModel, act: torch.Tensor, layer: str, pool: str, image_hw: tuple[int, int]
) -> torch.Tensor:
    """One vector per image from a layer's output (see :data:`POOLS`)."""
    if pool not in POOLS:
        raise VizlabError(f"method.pool='{pool}' is unknown; use one of {', '.join(POOLS)}.")
    if pool == "flatten" or act.dim() == 2:
        return act.flatten(1)
    if pool == "cls":
        if not (model.is_vit and act.dim() == 3 and model.module.num_prefix_tokens > 0):
            raise VizlabError(
                f"method.pool=cls needs a ViT token layer with a class token; '{layer}' of "
                f"{model.name} gives {tuple(act.shape[1:])}. Use method.pool=avg."
            )
        return act[:, 0]
    grid = spatial_map(model, act, layer, image_hw).flatten(2)
    return grid.mean(2) if pool == "avg" else grid.amax(2)


def map_batches(
    model: VisionModel,
    images: torch.Tensor,
    layer: str,
    reduce: Callable[[torch.Tensor], torch.Tensor],
    batch_size: int = 32,
) -> torch.Tensor:
    """``reduce(activation)`` for every batch of ``images`` (N x 3 x H x W in [0, 1]),
    concatenated on the CPU. Runs under ``torch.inference_mode``."""
    if batch_size < 1:
        raise VizlabError(f"method.batch_size={batch_size} must be a positive integer.")
    model.resolve(layer)
    out = []
    with torch.inference_mode():
        for start in range(0, images.shape[0], batch_size):
            x = model.units.unit_to_model(images[start : start + batch_size].to(model.device))
            act = model.features(x, [layer])[layer]
            out.append(reduce(act).float().cpu())
    return torch.cat(out)


def extract_features(
    model: VisionModel,
    images: torch.Tensor,
    layer: str,
    pool: str = "avg",
    batch_size: int = 32,
) -> torch.Tensor:
    """N x D features of ``layer`` for ``images`` in [0, 1] (lecture 21.2)."""
    hw = tuple(images.shape[-2:])
    return map_batches(
        model, images, layer, lambda a: pool_features(model, a, layer, pool, hw), batch_size
    )


def extract_maps(
    model: VisionModel,
    images: torch.Tensor,
    layer: str,
    channels: Sequence[int] | None = None,
    batch_size: int = 32,
) -> torch.Tensor:
    """N x C x h x w feature maps of ``layer`` (only ``channels`` if given; lecture 21.3)."""
    hw = tuple(images.shape[-2:])

    def reduce(act: torch.Tensor) -> torch.Tensor:
        maps = spatial_map(model, act, layer, hw)
        return maps[:, list(channels)] if channels is not None else maps

    return map_batches(model, images, layer, reduce, batch_size)
