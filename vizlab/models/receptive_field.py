"""Receptive-field stride and size of any layer, measured by back-propagation.

The paper's Table 1 lists, per layer, the receptive-field *size* (rho in Eq. 9) and *stride*
(which sets the jitter T, Sect. 5.2.1). timm graphs have residual branches, so composing
kernel sizes along ``named_modules()`` would be wrong (a ResNet shortcut would add its stride
twice). Instead we measure the theoretical receptive field on a *linearized* copy of the
network: normalization layers and activations become identities, max-pooling becomes average
pooling, channel-attention gates (squeeze-excite and friends) are dropped because their global
pooling would make every unit see the whole image, and every conv/linear weight becomes a
positive average. With an all-ones input every path then carries a strictly positive gradient,
so the gradient support of one unit is exactly its theoretical receptive field.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

_GATE_NAMES = (
    "SqueezeExcite",
    "SEModule",
    "EffectiveSEModule",
    "EcaModule",
    "CecaModule",
    "GatherExcite",
    "CbamModule",
    "LightCbamModule",
    "GlobalContext",
)
_NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)
_ACT_TYPES = (
    nn.ReLU,
    nn.ReLU6,
    nn.SiLU,
    nn.GELU,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Sigmoid,
    nn.Tanh,
    nn.LeakyReLU,
    nn.ELU,
    nn.Mish,
    nn.PReLU,
    nn.Softplus,
    nn.GLU,
)


@dataclass(frozen=True)
class ReceptiveField:
    """Stride and size in input pixels; ``clipped`` if the field exceeded the probe image."""

    stride: int
    size: int
    clipped: bool = False
    spatial: bool = True

    def jitter(self) -> int:
        """The paper's jitter amount T = max(1, round(stride / 4)) (Sect. 5.2.1)."""
        return max(1, round(self.stride / 4))


def _is_gate(module: nn.Module) -> bool:
    return type(module).__name__ in _GATE_NAMES


def _is_norm(module: nn.Module) -> bool:
    return (
        isinstance(module, _NORM_TYPES)
        or "Norm" in type(module).__name__
        and not list(module.children())
    )


def linearized_copy(model: nn.Module) -> nn.Module:
    """A float32 copy in which every path from input to output has a positive gradient."""
    probe = copy.deepcopy(model).float().eval()
    for parent in list(probe.modules()):
        for child_name, child in list(parent.named_children()):
            if _is_gate(child) or isinstance(child, _ACT_TYPES):
                setattr(parent, child_name, nn.Identity())
            elif isinstance(child, nn.modules.batchnorm._NormBase) or _is_norm(child):
                # timm's BatchNormAct2d also holds its activation: dropping it drops both.
                setattr(parent, child_name, nn.Identity())
            elif isinstance(child, nn.MaxPool2d):
                setattr(
                    parent,
                    child_name,
                    nn.AvgPool2d(
                        child.kernel_size, child.stride, child.padding, ceil_mode=child.ceil_mode
                    ),
                )
    with torch.no_grad():
        for module in probe.modules():
            weight = getattr(module, "weight", None)
            if isinstance(weight, torch.Tensor) and weight.dim() >= 2:
                fan_in = weight[0].numel()
                weight.fill_(1.0 / fan_in)
            bias = getattr(module, "bias", None)
            if isinstance(bias, torch.Tensor):
                bias.zero_()
    probe.requires_grad_(False)
    return probe


def _support(grad: torch.Tensor) -> tuple[int, int, int, int]:
    """Row/column extent (first, last) of the non-zero gradient support."""
    mask = grad.abs().sum(dim=(0, 1)) > 0
    rows = torch.nonzero(mask.any(dim=1)).flatten()
    cols = torch.nonzero(mask.any(dim=0)).flatten()
    return int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])


def _pooled_globally(forward_to_layer, size: int) -> bool:
    """A 1 x 1 map that stays 1 x 1 on a larger image is global pooling
    (``nn.AdaptiveAvgPool2d(1)``): every unit sees the whole image."""
    return tuple(forward_to_layer(torch.ones(1, 3, size, size)).shape[-2:]) == (1, 1)


def measure(forward_to_layer, size: int, max_size: int = 1024) -> ReceptiveField:
    """Measure the receptive field with ``forward_to_layer(x) -> activation`` on a linearized
    network, growing the probe image until the field fits (or ``max_size`` is reached)."""
    while True:
        x = torch.ones(1, 3, size, size, requires_grad=True)
        out = forward_to_layer(x)
        if out.dim() != 4:
            return ReceptiveField(stride=size, size=size, clipped=False, spatial=False)
        h, w = out.shape[-2:]
        if h == w == 1 and _pooled_globally(forward_to_layer, 2 * size):
            return ReceptiveField(stride=size, size=size, clipped=False, spatial=False)
        ci, cj = (h - 1) // 2, (w - 1) // 2
        (grad,) = torch.autograd.grad(out[0, :, ci, cj].sum(), x, retain_graph=True)
        r0, r1, c0, c1 = _support(grad[0:1])
        rf_size = max(r1 - r0 + 1, c1 - c0 + 1)
        if w > 1:
            (grad2,) = torch.autograd.grad(out[0, :, ci, cj + 1].sum(), x)
            _, _, c0b, c1b = _support(grad2[0:1])
            # The right edge moves by the stride unless clipped by the image border.
            stride = c1b - c1 if c1b < size - 1 else c0b - c0
            stride = stride if stride > 0 else round(size / w)
        else:
            stride = size
        clipped = r0 == 0 or c0 == 0 or r1 == size - 1 or c1 == size - 1
        if not clipped or size * 2 > max_size:
            return ReceptiveField(stride=int(stride), size=int(rf_size), clipped=bool(clipped))
        size *= 2
