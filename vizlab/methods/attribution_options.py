"""Options and context shared by the attribution methods (saliency, occlusion, grabcut and
the CAM family): what to explain, baselines, and the knobs of the saliency kinds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor

from vizlab.attribution.explain import (
    BASELINES,
    CLASS_KINDS,
    Explained,
    baseline,
    explain,
    is_baseline,
)
from vizlab.attribution.integrated_gradients import METHODS
from vizlab.attribution.saliency import SMOOTHED
from vizlab.attribution.saliency import attribute as attribute_kind
from vizlab.errors import VizlabError, nearest
from vizlab.methods.base import RunContext
from vizlab.schema import check_choice, check_positive, check_range, require


def check_baseline(value: Any) -> None:
    hint = nearest(str(value), BASELINES, n=1)
    require(
        is_baseline(value),
        "baseline",
        value,
        f"must be one of {', '.join(BASELINES)} or a gray level in [0, 1] (e.g. 0.5)"
        + (f" (did you mean {hint[0]}?)" if hint else ""),
    )


@dataclass
class SaliencyKnobs:
    """The knobs of the saliency kinds (SmoothGrad and Integrated Gradients)."""

    batch_size: int
    n_samples: int
    noise_level: float
    squared: bool
    smooth: str
    n_steps: int
    integration: str
    baseline: Any

    def __post_init__(self) -> None:
        check_positive("batch_size", self.batch_size, integer=True)
        check_positive("n_samples", self.n_samples, integer=True)
        check_range("noise_level", self.noise_level, 0.0)
        check_choice("smooth", self.smooth, SMOOTHED)
        check_choice("integration", self.integration, METHODS)
        low = 1 if self.integration == "gausslegendre" else 2
        require(self.n_steps >= low, "n_steps", self.n_steps, f"must be >= {low} for this rule")
        check_baseline(self.baseline)

    def saliency_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`vizlab.attribution.saliency.attribute` (the baseline
        is turned into an image by the caller)."""
        return dict(
            n_samples=self.n_samples,
            noise_level=self.noise_level,
            squared=self.squared,
            smooth=self.smooth,
            n_steps=self.n_steps,
            integration=self.integration,
            batch_size=self.batch_size,
        )


def check_class_index(value: int | None) -> None:
    require(value is None or value >= 0, "class_index", value, "must be >= 0 or null (top-1)")


def explained(ctx: RunContext, class_index: int | None, allow_units: bool = True) -> Explained:
    """The run's photos and the score to explain: ``class_index`` (None: top-1) or, when the
    run's target names a unit (target=channel, ...), that unit; target=logit gives a class."""
    kind = ctx.cfg.target.get("kind", "layer") if ctx.cfg.get("target") else "layer"
    unit = None
    if kind not in CLASS_KINDS:
        unit = ctx.target
    elif kind == "logit" and class_index is None and ctx.target.indices:
        class_index = ctx.target.indices[0]
    refs = ctx.references
    return explain(
        ctx.model,
        refs.images,
        list(refs.names),
        class_index=class_index,
        unit=unit,
        allow_units=allow_units,
        method=str(ctx.method_cfg.name),
    )


def attribute(
    ctx: RunContext, ex: Explained, kind: str, knobs: SaliencyKnobs
) -> tuple[Tensor, dict]:
    """Attributions (N x 3 x H x W, model-input space) of one kind, plus its metrics."""
    base = baseline(ctx.model.units, knobs.baseline, ex.inputs, ex.photos)
    try:
        return attribute_kind(
            ctx.model.module,
            ex,
            kind,
            baseline=base,
            generator=ctx.generator(),
            **knobs.saliency_kwargs(),
        )
    except ValueError as err:
        raise VizlabError(f"method={ctx.method_cfg.name} kind={kind}: {err}.") from err
