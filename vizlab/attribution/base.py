"""The shared base of all attribution methods (captum-like: one class per method, one verb
``attribute``), and the target selection they share.

A *forward function* maps a batch of model inputs ``N x C x H x W`` to scores: either one
score per image (``N``) or a row of class scores (``N x K``) from which ``target`` picks one
column per image (an int for all images, or one index per image).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch
from torch import Tensor

ForwardFunc = Callable[[Tensor], Tensor]
Target = int | Sequence[int] | Tensor | None


def select_target(output: Tensor, target: Target) -> Tensor:
    """One score per image: ``output[i, target[i]]`` (or ``output`` itself if it is 1-D)."""
    if output.dim() == 1:
        if target is not None:
            raise ValueError("the forward function gives one score per image; target must be None")
        return output
    if output.dim() != 2:
        raise ValueError(f"forward function output must be N or N x K, got {tuple(output.shape)}")
    if target is None:
        raise ValueError("the forward function returns N x K scores; give a target index")
    index = torch.as_tensor(target, device=output.device).long().flatten()
    if index.numel() == 1:
        index = index.expand(output.shape[0])
    if index.numel() != output.shape[0]:
        raise ValueError(f"{index.numel()} targets for a batch of {output.shape[0]} images")
    return output.gather(1, index.view(-1, 1)).squeeze(1)


def repeat_target(target: Target, times: int) -> Target:
    """The targets of a batch whose images were each repeated ``times`` times (image-major)."""
    if target is None or isinstance(target, int):
        return target
    index = torch.as_tensor(target).long().flatten()
    return index if index.numel() == 1 else index.repeat_interleave(times)


def target_of(target: Target, i: int) -> Target:
    """The target of image ``i`` alone (the same for all images when it is None or one int)."""
    if target is None or isinstance(target, int):
        return target
    index = torch.as_tensor(target).long().flatten()
    return int(index[0 if index.numel() == 1 else i])


def chunks(total: int, size: int | None) -> Iterator[slice]:
    """Slices of ``range(total)`` of at most ``size`` (all at once if ``size`` is None)."""
    step = total if not size or size <= 0 else int(size)
    for start in range(0, total, max(step, 1)):
        yield slice(start, min(start + step, total))


class Attribution:
    """An attribution method on a forward function; subclasses implement :meth:`attribute`."""

    def __init__(self, forward_func: ForwardFunc):
        self.forward_func = forward_func

    def scores(self, inputs: Tensor, target: Target = None) -> Tensor:
        """The explained score of each image (``N``)."""
        return select_target(self.forward_func(inputs), target)

    def attribute(self, inputs: Tensor, target: Target = None, **kwargs) -> Tensor:
        """Attributions with the shape of ``inputs``."""
        raise NotImplementedError


class GradientAttribution(Attribution):
    """Attribution methods built on the gradient of the score with respect to the input."""

    def gradients(self, inputs: Tensor, target: Target = None) -> Tensor:
        """d score_i / d inputs_i for every image (images are independent in eval mode)."""
        with torch.enable_grad():
            x = inputs.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.scores(x, target).sum(), x)
        return grad
