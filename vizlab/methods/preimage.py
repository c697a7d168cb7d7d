"""The pre-image energy of Mahendran & Vedaldi, Eq. (1)/(7), minimized by Algorithm 1:

    x* = argmin_x  sum_r w_r R_r(x) + C E_tau[ l(Phi(jitter(x; tau)), Phi_0) ]

shared by inversion, activation maximization and caricaturization, which differ only in the
loss l, the constant C and the start point. Images are rendered in paper units (RGB 0..255,
mean subtracted) so the paper's constants apply as printed; the model sees them converted to
its own input normalization.

The image comes from the configured parameterization (``param=pixel`` is the paper's setting:
the pixels themselves, bounded by B+), rendered on a canvas T-1 pixels larger than the network
input for the paper's jitter. Each step: jittered crop -> configured random transforms
(``transforms=...``, none by default) -> model; after the optimizer step the parameterization
projects its constraint and the transforms' post-step hooks (Yosinski's blur / clipping) edit
the image. Every image has its own random streams (start and transforms), seeded from
``method.seed`` and the image's key, so a batch of images gives the same result as rendering
each image alone.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from vizlab.methods.base import RunContext
from vizlab.optim import PreImageSGD, build_optimizer
from vizlab.params import build_param
from vizlab.regularizers.jitter import Jitter
from vizlab.targets.objectives import Features
from vizlab.transforms import build_transforms, fit


@dataclass
class PreImageProblem:
    """One batch of independent pre-image problems.

    ``data_loss`` maps captured features to l(.) per image; ``x_init`` is the start image,
    N x 3 x H x W in paper units at the network's input size, or None for the
    parameterization's own random start (then ``batch`` images of ``size``, default the
    model's input size); ``stride`` sets the jitter T. ``keys`` name the images for their
    random streams (default 0..N-1): give the same key to the same unit in every run so that
    batched and separate runs agree."""

    data_loss: Callable[[Features], torch.Tensor]
    layers: list[str]
    x_init: torch.Tensor | None
    C: float
    stride: int
    finetune_iterations: int = 0
    keys: Sequence[int] | None = None
    batch: int | None = None
    size: tuple[int, int] | None = None


@dataclass
class PreImageTrace:
    """The optimized images (paper units, network size), the per-step energy terms, the
    parameterization's extra per-image maps (e.g. MaCo's ``alpha``, N x 1 x H x W) and the
    wall time of every optimization step in seconds."""

    x: torch.Tensor
    history: dict[str, list[float]] = field(default_factory=dict)
    extras: dict[str, torch.Tensor] = field(default_factory=dict)
    step_seconds: list[float] = field(default_factory=list)

    def timing(self) -> dict[str, float]:
        """``optimization_seconds`` (all steps) and ``ms_per_step``: the median step, robust
        to the first (warm-up) step and to scheduling hiccups; benchmarks/run.py uses it."""
        if not self.step_seconds:
            return {}
        return {
            "optimization_seconds": sum(self.step_seconds),
            "ms_per_step": 1e3 * statistics.median(self.step_seconds),
        }


def prior_constants(ctx: RunContext) -> tuple[float, float, float]:
    """(B, alpha, B+) in paper units: from the alpha-norm entry, else the paper defaults."""
    entry = (ctx.cfg.get("regularizers") or {}).get("alpha_norm") or {}
    B = float(entry.get("B", 80.0))
    alpha = float(entry.get("alpha", 6.0))
    b_plus = ctx.method_cfg.get("B_plus") or 2.0 * B
    return B, alpha, float(b_plus)


def random_init(
    shape: tuple[int, ...], B: float, scale: float, generator: torch.Generator
) -> torch.Tensor:
    """i.i.d. Gaussian noise whose pixel RGB vectors have typical norm ``scale * B``."""
    return torch.randn(shape, generator=generator) * (scale * B / 3**0.5)


def pad_for_jitter(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Grow an image by ``pad`` pixels (reflect) so its central crop is ``x`` itself."""
    if pad == 0:
        return x
    before, after = pad // 2, pad - pad // 2
    mode = "reflect" if min(x.shape[-2:]) > pad else "replicate"
    return F.pad(x, (before, after, before, after), mode=mode)


SEED_STRIDE = 1_000_003
"""Image ``key`` uses seeds ``method.seed + stream + SEED_STRIDE * key`` (stream 0: start,
1: transforms), so key 0 keeps the streams of ``ctx.generator()`` / ``ctx.generator(1)``."""


def image_generators(ctx: RunContext, keys: Sequence[int], stream: int) -> list[torch.Generator]:
    """One CPU generator per image for the given random stream (0: start, 1: transforms)."""
    return [ctx.generator(offset=stream + SEED_STRIDE * int(key)) for key in keys]


def image_keys(ids: Sequence[int], inits: int = 1) -> list[int]:
    """Keys of images laid out id-major with ``inits`` starts each (``repeat_interleave``):
    ``id + 100_000 * start``, so the first start of an id (a unit, a reference image) has
    the same random streams whatever else is in the batch."""
    return [int(i) + 100_000 * k for i in ids for k in range(inits)]


def jitter_crops(jitter: Jitter, x: torch.Tensor, taus: Sequence[tuple[int, int]]) -> torch.Tensor:
    """Each image's own jittered crop (Eq. 7)."""
    if len(set(taus)) == 1:
        return jitter.crop(x, taus[0])
    return torch.cat([jitter.crop(x[i : i + 1], tau) for i, tau in enumerate(taus)])


def optimize_preimage(
    ctx: RunContext, problem: PreImageProblem, iterations: int, desc: str = "pre-image"
) -> PreImageTrace:
    """Run Algorithm 1 (or Adam) on the energy; fine-tuning runs without jitter and random
    transforms at a tenth of the learning rate with the momentum reset (Sect. 3.4).

    The optimizer is ``param.optimizer`` when the parameterization config sets one (Fourier
    and MaCo: Adam, since Algorithm 1's learning-rate rule is for pixels in paper units),
    else the ``optimizer`` group. The regularizers group's penalties are added only when
    ``param.penalties`` (pixels: yes; Fourier and MaCo are a prior of their own: no)."""
    model, units = ctx.model, ctx.model.units
    B, alpha, _ = prior_constants(ctx)
    stack = ctx.regularizers
    jitter = stack.jitter(problem.stride)
    transforms = build_transforms(ctx.cfg.get("transforms"))
    if problem.x_init is not None:
        n, (h, w) = problem.x_init.shape[0], tuple(problem.x_init.shape[-2:])
    else:
        n, (h, w) = int(problem.batch or 1), tuple(problem.size or model.spec.size)
    keys = list(problem.keys) if problem.keys is not None else list(range(n))
    if len(keys) != n:
        raise ValueError(f"{len(keys)} keys for {n} images")
    param = build_param(
        ctx.cfg.get("param"),
        ctx,
        n,
        (h, w),
        init=problem.x_init,
        generators=image_generators(ctx, keys, 0),
        margin=jitter.pad,
    )
    # The bound B+ is the pixel parameterization's projection (param.project_), not Adam's.
    optimizer = build_optimizer(
        param.optimizer or ctx.cfg.optimizer,
        param.parameters(),
        num_pixels=h * w,
        B=B,
        alpha=alpha,
        bound=None,
    )
    algorithm1 = isinstance(optimizer, PreImageSGD)
    generators = image_generators(ctx, keys, 1)
    need_grad = param.wants_grad or transforms.wants_grad
    history: dict[str, list[float]] = {"energy": [], "data": []}
    total = iterations + problem.finetune_iterations
    bar = tqdm(range(total), desc=desc, disable=not ctx.progress, leave=False)
    step_seconds: list[float] = []
    for step in bar:
        started = time.perf_counter()
        finetuning = step >= iterations
        if step == iterations and finetuning:
            if algorithm1:
                optimizer.reset_momentum()
                optimizer.scale_lr(0.1)
            else:
                for group in optimizer.param_groups:
                    group["lr"] *= 0.1
        x = param.paper()
        # the data term's own gradient w.r.t. the image, for MaCo's alpha and Yosinski's
        # contribution clipping, flows through this extra view
        seen = x.view_as(x) if need_grad else x
        if need_grad:
            seen.retain_grad()
        if finetuning:
            crop = jitter.crop(seen, jitter.center())
        else:
            crop = jitter_crops(jitter, seen, [jitter.sample(g) for g in generators])
            if transforms.transforms:
                crop = fit(transforms(crop, generators), (h, w))
        feats = model.features(units.paper_to_model(crop), problem.layers)
        data = problem.data_loss(feats)
        prior, terms = stack(x) if param.penalties else (data.new_zeros(n), {})
        energy = prior + problem.C * data
        optimizer.zero_grad(set_to_none=True)
        energy.sum().backward()
        optimizer.step()
        param.project_()
        grad = seen.grad if need_grad else None
        param.observe(grad)
        if transforms.hooks:
            with torch.no_grad():
                edited = transforms.after_step(step, param.paper().detach(), grad)
                if edited is not None:
                    param.assign_(edited)
        history["energy"].append(float(energy.detach().mean()))
        history["data"].append(float(data.detach().mean()))
        for name, value in terms.items():
            history.setdefault(name, []).append(float(value.mean()))
        step_seconds.append(time.perf_counter() - started)  # after float(): synchronized
        if step % 10 == 0 or step == total - 1:
            bar.set_postfix(
                energy=f"{history['energy'][-1]:.4g}", data=f"{history['data'][-1]:.4g}"
            )
    with torch.no_grad():
        final = jitter.crop(param.paper(), jitter.center()).detach().clone()
        extras = {k: jitter.crop(v, jitter.center()).clone() for k, v in param.extras().items()}
    return PreImageTrace(final, history, extras, step_seconds)


def to_unit_images(ctx: RunContext, x_paper: torch.Tensor) -> torch.Tensor:
    """Paper units -> displayable [0, 1] RGB (clipped)."""
    return ctx.model.units.paper_to_unit(x_paper).clamp(0, 1)


@torch.no_grad()
def evaluate(ctx: RunContext, x_paper: torch.Tensor, layers: list[str]) -> Features:
    """Features (and logits when the model has a head) of paper-unit images, no jitter."""
    from vizlab.models.wrapper import OUTPUT

    wanted = list(layers)
    if ctx.model.num_classes and OUTPUT not in wanted:
        wanted.append(OUTPUT)
    return ctx.model.features(ctx.model.units.paper_to_model(x_paper.to(ctx.device)), wanted)
