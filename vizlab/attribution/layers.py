"""Where CAMs look: ViT token sequences laid out on the patch grid, and the default layer of a
timm model (the feature map that feeds its head)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def is_vit(model: nn.Module) -> bool:
    """A timm vision transformer (patch embedding + prefix tokens)."""
    return hasattr(model, "patch_embed") and hasattr(model, "num_prefix_tokens")


def token_grid(model: nn.Module, image_size: tuple[int, int]) -> tuple[int, int]:
    """Patch-grid size of a timm ViT for an input of ``image_size`` (dynamic sizes too)."""
    embed = model.patch_embed
    if getattr(model, "dynamic_img_size", False) or getattr(embed, "dynamic_img_pad", False):
        return tuple(embed.dynamic_feat_size(tuple(image_size)))
    return tuple(embed.grid_size)


def tokens_to_grid(tokens: Tensor, model: nn.Module, image_size: tuple[int, int]) -> Tensor:
    """N x T x D token activations -> N x D x h x w patch maps: the ``num_prefix_tokens``
    (class and register tokens) are dropped and the rest reshaped to timm's patch grid."""
    h, w = token_grid(model, image_size)
    prefix = int(getattr(model, "num_prefix_tokens", 0))
    patches = tokens[:, prefix:]
    if patches.shape[1] != h * w:
        raise ValueError(
            f"{tokens.shape[1]} tokens minus {prefix} prefix tokens do not fill the "
            f"{h}x{w} patch grid of a {image_size[0]}x{image_size[1]} input"
        )
    return patches.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], h, w)


def as_feature_map(activation: Tensor, model: nn.Module, image_size: tuple[int, int]) -> Tensor:
    """A layer's output as N x C x h x w: CNN maps as they are, ViT tokens via the grid."""
    if activation.dim() == 4:
        return activation
    if activation.dim() == 3 and is_vit(model):
        return tokens_to_grid(activation, model, image_size)
    raise ValueError(
        f"a CAM layer must output a spatial map (N x C x h x w) or ViT tokens (N x T x D); "
        f"this one gives {tuple(activation.shape)}"
    )


def final_feature_layer(model: nn.Module, image_size: tuple[int, int]) -> str:
    """Name of the module whose output *is* ``model.forward_features(x)`` -- the last feature
    map before global pooling (``bn2`` for EfficientNets, ``layer4`` for ResNets, ``norm`` for
    ViTs). Falls back to timm's ``feature_info[-1]``; a model without ``forward_features``
    (torchvision, your own) uses the last module output that is a spatial map (N x C x h x w,
    h * w > 1)."""
    finished: list[tuple[str, object]] = []  # outputs kept alive, so identity is meaningful
    handles = [
        m.register_forward_hook(lambda _m, _i, out, n=n: finished.append((n, out)))
        for n, m in model.named_modules()
        if n
    ]
    try:
        with torch.no_grad():
            param = next(model.parameters(), None)
            device = param.device if param is not None else "cpu"
            forward = getattr(model, "forward_features", None) or model
            features = forward(torch.zeros(1, 3, *image_size, device=device))
    finally:
        for h in handles:
            h.remove()
    if not hasattr(model, "forward_features"):
        maps = [n for n, out in finished if isinstance(out, torch.Tensor) and out.dim() == 4]
        spatial = [n for n, out in finished if n in maps and out.shape[-1] * out.shape[-2] > 1]
        if spatial or maps:
            return (spatial or maps)[-1]
    matches = [n for n, out in finished if out is features]
    if matches:
        return matches[-1]
    info = getattr(model, "feature_info", None)
    if info:
        return info[-1]["module"]
    raise ValueError("could not find the final feature layer; pass a layer name")


def default_cam_layer(model: nn.Module, image_size: tuple[int, int]) -> str:
    """The layer Grad-CAM uses by default.

    CNNs: the final feature map (Selvaraju et al. use the last convolutional layer).
    ViTs: the input of the last block's attention, ``blocks.{L-1}.norm1`` -- with a class-token
    head the class score depends on the last block's *output* only through the class token, so
    the patch tokens there have zero gradient; one step earlier they still reach it through
    attention (the choice pytorch-grad-cam's ViT example makes). ViTs that average the patch
    tokens (``global_pool='avg'``) use the last block's output.
    """
    if is_vit(model):
        last = f"blocks.{len(model.blocks) - 1}"
        if getattr(model, "global_pool", "token") == "avg":
            return last
        return f"{last}.norm1"
    return final_feature_layer(model, image_size)
