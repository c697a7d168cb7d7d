"""Guided backpropagation (Springenberg, Dosovitskiy, Brox & Riedmiller 2015, "Striving for
simplicity", Sect. 3.4 and Fig. 1): through a ReLU, the backward signal passes only where the
forward input was positive *and* the incoming gradient is positive.

Rule for other rectifiers (ours, stated here because the paper only defines ReLU): for an
elementwise activation y = f(x) the guided backward pass is

    dL/dx := max(0, f'(x) * max(0, dL/dy))

i.e. clamp the incoming gradient to >= 0, multiply by the activation's own local derivative,
and clamp the result to >= 0. For ReLU (f' = [x > 0]) and ReLU6 (f' = [0 < x < 6]) this is
exactly Springenberg's rule; for SiLU/Swish, GELU, Hardswish, Mish, ELU, ... it keeps the
smooth gate f'(x) where it is positive and blocks the small negative lobe of f'. Gating
nonlinearities that are not rectifiers (the sigmoid of squeeze-excite blocks, softmax in
attention) keep their ordinary gradient. captum's ``GuidedBackprop`` and pytorch-grad-cam only
modify ``nn.ReLU`` modules, so on SiLU/GELU models they return the plain gradient there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from vizlab.attribution.base import ForwardFunc, GradientAttribution, Target

RECTIFIERS = (
    "ReLU",
    "ReLU6",
    "LeakyReLU",
    "PReLU",
    "ELU",
    "CELU",
    "SELU",
    "GELU",
    "GELUTanh",
    "QuickGELU",
    "SiLU",
    "Swish",
    "Hardswish",
    "HardSwish",
    "HardSwishMe",
    "SwishMe",
    "Mish",
    "MishMe",
    "HardMish",
    "HardMishMe",
)
"""Class names of the activation modules guided backprop modifies (torch and timm)."""


class _GuidedActivation(torch.autograd.Function):
    """y = f(x) forward; dL/dx = max(0, f'(x) * max(0, dL/dy)) backward."""

    @staticmethod
    def forward(ctx, x: Tensor, fn: Callable[[Tensor], Tensor]) -> Tensor:  # type: ignore[override]
        ctx.fn = fn
        ctx.save_for_backward(x)
        return fn(x.clone())  # clone: in-place activations must not overwrite the saved x

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        with torch.enable_grad():
            leaf = x.detach().requires_grad_(True)
            y = ctx.fn(leaf.clone())
            (grad,) = torch.autograd.grad(y, leaf, grad_out.clamp(min=0))
        return grad.clamp(min=0), None


def is_rectifier(module: nn.Module) -> bool:
    return type(module).__name__ in RECTIFIERS


@contextmanager
def guided_activations(model: nn.Module) -> Iterator[list[str]]:
    """Inside the block, every rectifier module of ``model`` backpropagates with the guided
    rule above; yields the names of the modified modules. The original forwards are always
    restored on exit (also after an exception)."""
    patched: list[tuple[nn.Module, object]] = []
    names: list[str] = []
    try:
        for name, module in model.named_modules():
            if not is_rectifier(module):
                continue
            patched.append((module, module.__dict__.get("forward", _MISSING)))
            module.forward = _guided_forward(module.forward)  # shadows the class's forward
            names.append(name)
        yield names
    finally:
        for module, own in reversed(patched):
            if own is _MISSING:
                del module.forward
            else:
                module.forward = own


_MISSING = object()


def _guided_forward(original: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    def forward(x: Tensor) -> Tensor:
        return _GuidedActivation.apply(x, original)

    return forward


class GuidedBackprop(GradientAttribution):
    """The gradient of the score under :func:`guided_activations`."""

    def __init__(self, model: nn.Module, forward_func: ForwardFunc | None = None):
        super().__init__(forward_func or model)
        self.model = model
        self.guided_modules: list[str] = []

    def attribute(self, inputs: Tensor, target: Target = None) -> Tensor:
        with guided_activations(self.model) as names:
            if not names:
                raise ValueError(
                    "guided backpropagation found no rectifier modules "
                    f"({', '.join(RECTIFIERS[:8])}, ...) in the model; functional activations "
                    "(F.relu in forward) cannot be guided"
                )
            self.guided_modules = names
            return self.gradients(inputs, target)
