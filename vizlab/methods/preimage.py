"""What the pre-image methods (inversion, activation maximization, caricature, class models)
share: turning a run's config groups and typed options into the engine's objects
(:class:`vizlab.preimage.EngineSettings`). The engine itself is :mod:`vizlab.preimage`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vizlab.methods.base import RunContext
from vizlab.optim.schema import validate_optimizer
from vizlab.params.schema import validate_param
from vizlab.preimage import EngineSettings, PreImageTrace
from vizlab.regularizers.stack import RegularizerStack
from vizlab.schema import check_positive, typed
from vizlab.transforms.stack import build_transforms


def options_of(ctx: RunContext, schema: type) -> Any:
    """The method's typed options: ``ctx.options`` as the runner passes it, else
    ``cfg.method`` checked against ``schema`` (a context built by hand)."""
    if isinstance(ctx.options, schema):
        return ctx.options
    return typed(schema, ctx.cfg.method, "method")


def engine_settings(
    ctx: RunContext, options: Any, regularizers: RegularizerStack | None = None
) -> EngineSettings:
    """The engine's settings from the run's ``param``, ``optimizer``, ``regularizers`` and
    ``transforms`` groups and the method's seed, ``init_scale`` and ``B_plus``."""
    cfg = ctx.cfg
    return EngineSettings(
        param=validate_param(cfg.get("param")),
        optimizer=validate_optimizer(cfg.get("optimizer") or "preimage_sgd"),
        regularizers=regularizers if regularizers is not None else ctx.regularizers,
        transforms=build_transforms(cfg.get("transforms")),
        seed=int(options.seed),
        init_scale=float(getattr(options, "init_scale", None) or 0.1),
        B_plus=getattr(options, "B_plus", None),
        progress=ctx.progress,
    )


def mark_interrupted(metrics: dict[str, Any], trace: PreImageTrace) -> None:
    """``metrics["interrupted"] = True`` (and the steps done) when Ctrl-C stopped the loop."""
    if trace.interrupted:
        metrics["interrupted"] = True
        metrics["steps_done"] = len(trace.step_seconds)


@dataclass
class PreImageOptions:
    """Options every pre-image method has: ``iterations`` >= 1, ``finetune_iterations`` >= 0,
    ``num_inits`` >= 1 random starts per problem, ``seed``, the pixel bound ``B_plus`` > 0
    (null: 2 B)."""

    name: str
    iterations: int
    finetune_iterations: int
    num_inits: int
    seed: int
    B_plus: float | None

    def __post_init__(self) -> None:
        check_positive("iterations", self.iterations, integer=True)
        check_positive(
            "finetune_iterations", self.finetune_iterations, integer=True, allow_zero=True
        )
        check_positive("num_inits", self.num_inits, integer=True)
        if self.B_plus is not None:
            check_positive("B_plus", self.B_plus)
