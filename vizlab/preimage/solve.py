"""From a :class:`PreImageProblem` and the engine's settings (plain objects) to a trace: the
parameterization at the problem's size with the jitter margin, its optimizer, the per-image
random streams, then the loop."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vizlab.models.wrapper import VisionModel
from vizlab.optim import build_optimizer
from vizlab.params import build_param
from vizlab.params.schema import PixelOptions
from vizlab.preimage.loop import optimize
from vizlab.preimage.problem import PreImageProblem, PreImageTrace, image_generators
from vizlab.regularizers.stack import RegularizerStack
from vizlab.transforms.stack import TransformStack


@dataclass
class EngineSettings:
    """How a problem is optimized: the parameterization (typed ``param`` options), the
    optimizer (typed ``optimizer`` options; a parameterization's own wins), the regularizer
    and transform stacks, the seed of the per-image random streams, the pixel start's scale
    (in units of B) and bound B+ (None: 2 B), and whether to show a progress bar."""

    param: Any = field(default_factory=PixelOptions)
    optimizer: Any = None
    regularizers: RegularizerStack = field(default_factory=RegularizerStack)
    transforms: TransformStack = field(default_factory=TransformStack)
    seed: int = 0
    init_scale: float = 0.1
    B_plus: float | None = None
    progress: bool = False


def solve(
    model: VisionModel,
    settings: EngineSettings,
    problem: PreImageProblem,
    iterations: int,
    desc: str = "pre-image",
) -> PreImageTrace:
    """Optimize ``problem`` for ``iterations`` (+ its fine-tuning) steps."""
    stack = settings.regularizers
    jitter = stack.jitter(problem.stride)
    if problem.x_init is not None:
        n, (h, w) = problem.x_init.shape[0], tuple(problem.x_init.shape[-2:])
    else:
        n, (h, w) = int(problem.batch or 1), tuple(problem.size or model.spec.size)
    keys = list(problem.keys) if problem.keys is not None else list(range(n))
    if len(keys) != n:
        raise ValueError(f"{len(keys)} keys for {n} images")
    param = build_param(
        settings.param,
        model.units,
        model.spec,
        n,
        (h, w),
        init=problem.x_init,
        generators=image_generators(settings.seed, keys, 0),
        margin=jitter.pad,
        device=model.device,
        B=stack.B,
        B_plus=settings.B_plus,
        init_scale=settings.init_scale,
    )
    # The bound B+ is the pixel parameterization's projection (param.project_), not Adam's.
    optimizer = build_optimizer(
        param.optimizer or settings.optimizer or "preimage_sgd",
        param.parameters(),
        num_pixels=h * w,
        B=stack.B,
        alpha=stack.alpha,
        bound=None,
    )
    return optimize(
        model,
        problem.data_loss,
        problem.layers,
        param,
        optimizer,
        iterations=iterations,
        C=problem.C,
        regularizers=stack,
        transforms=settings.transforms,
        jitter=jitter,
        finetune_iterations=problem.finetune_iterations,
        generators=image_generators(settings.seed, keys, 1),
        progress=settings.progress,
        desc=desc,
    )
