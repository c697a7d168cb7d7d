"""Optimizer steps without torch's per-call wrapper, and Adam's fused kernel called directly.

``torch.optim.Optimizer`` wraps every subclass's ``step`` in a profiler range and the loops
over the step hooks; with no hook registered and no profiler running, that costs more per
step than the arithmetic of Algorithm 1 on a small image. :func:`lean_step` marks a step so
that torch leaves it unwrapped, and takes torch's wrapped path only when a hook is registered
or the profiler is on, so both still see every step.

:class:`FusedAdam` is torch's Adam (Kingma & Ba 2015) with ``fused=True``; once its state
exists, a step of the plain case (one group, real tensors on the CPU, no AMSGrad, weight
decay, maximization, gradient scaling or closure) is the fused kernel's call with the
arguments torch's own step passes it, without the grouping of tensors by device and the
checks around it. Everything else goes through torch's step.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch.optim.optimizer import _global_optimizer_post_hooks, _global_optimizer_pre_hooks

Step = TypeVar("Step", bound=Callable[..., Any])


def lean_step(step: Step) -> Step:
    """``step`` (of a ``torch.optim.Optimizer`` subclass) left out of torch's wrapper; the
    wrapped step runs instead while a step hook is registered or the profiler is on."""
    hooked = torch.optim.Optimizer.profile_hook_step(step)

    @functools.wraps(step)
    def run(self: torch.optim.Optimizer, *args: Any, **kwargs: Any) -> Any:
        if (
            self._optimizer_step_pre_hooks
            or self._optimizer_step_post_hooks
            or _global_optimizer_pre_hooks
            or _global_optimizer_post_hooks
            or torch._C._autograd._profiler_enabled()
        ):
            return hooked(self, *args, **kwargs)
        return step(self, *args, **kwargs)

    run.hooked = True  # type: ignore[attr-defined]  # Optimizer.__init__ wraps it otherwise
    return run  # type: ignore[return-value]


class FusedAdam(torch.optim.Adam):
    """``torch.optim.Adam(params, lr, betas, fused=True)`` with the plain case's step calling
    the fused kernel directly (the same kernel and arguments: the same numbers)."""

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999)):
        super().__init__(params, lr=lr, betas=betas, fused=True)

    @lean_step
    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        tensors = None if closure is not None else self._plain()
        if tensors is None:
            return _adam_step()(self, closure)
        group = self.param_groups[0]
        beta1, beta2 = group["betas"]
        params, grads, exp_avgs, exp_avg_sqs, steps = tensors
        with torch.no_grad():
            torch._foreach_add_(steps, 1)
            torch._fused_adam_(
                params,
                grads,
                exp_avgs,
                exp_avg_sqs,
                [],
                steps,
                amsgrad=False,
                lr=group["lr"],
                beta1=beta1,
                beta2=beta2,
                weight_decay=0.0,
                eps=group["eps"],
                maximize=False,
                grad_scale=None,
                found_inf=None,
            )
        return None

    def _plain(self) -> tuple[list[torch.Tensor], ...] | None:
        """The step's tensors (parameters with a gradient, their gradients, moments and step
        counts) when the plain case applies and the state exists, else None."""
        if len(self.param_groups) != 1 or getattr(self, "grad_scale", None) is not None:
            return None
        group = self.param_groups[0]
        if (
            group["amsgrad"]
            or group["weight_decay"] != 0
            or group["maximize"]
            or group["capturable"]
            or group["differentiable"]
            or group.get("decoupled_weight_decay", False)
            or not group["fused"]
            or not isinstance(group["lr"], float)
            or getattr(self, "found_inf", None) is not None
        ):
            return None
        params, grads, exp_avgs, exp_avg_sqs, steps = [], [], [], [], []
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self.state.get(p)
            if (
                not state
                or p.device.type != "cpu"
                or p.dtype != torch.float32
                or p.grad.dtype != torch.float32
                or p.grad.is_sparse
            ):
                return None
            params.append(p)
            grads.append(p.grad)
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            steps.append(state["step"])
        return (params, grads, exp_avgs, exp_avg_sqs, steps) if params else None


def _adam_step() -> Callable[..., Any]:
    """torch's ``Adam.step`` without torch's wrapper (which the first plain ``Adam`` puts
    around it): :func:`lean_step` already ran the hooks, if any."""
    step = torch.optim.Adam.step
    return step.__wrapped__ if getattr(step, "hooked", False) else step  # type: ignore[attr-defined]
