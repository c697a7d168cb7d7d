"""The optimization loop of the pre-image engine (Mahendran & Vedaldi, Algorithm 1 with the
jitter of Eq. 7; or any torch optimizer), on plain objects: a model, a data loss, an image
parameterization, an optimizer, a regularizer stack and a transform stack.

Each step: the parameterization renders the canvas (paper units) -> jittered crop -> random
transforms (lucid's, Olah et al. 2017) -> model -> energy = penalties + C * data -> backward
-> optimizer step -> the parameterization's projection -> its observation of the data
gradient (MaCo's alpha) -> post-step hooks (Yosinski et al. 2015's blur and clipping),
written back into the parameters. Fine-tuning steps (Sect. 3.4) run without jitter and
transforms at a tenth of the learning rate with the momentum reset.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import torch
from torch._C import _are_functorch_transforms_active as _functorch_active
from torch.autograd.graph import _engine_run_backward
from tqdm.auto import tqdm

from vizlab.models.wrapper import VisionModel
from vizlab.optim import PreImageSGD
from vizlab.params.base import ImageParam
from vizlab.preimage.energy import StepRecord, check_finite
from vizlab.preimage.problem import PreImageTrace
from vizlab.regularizers.jitter import Jitter
from vizlab.regularizers.stack import RegularizerStack
from vizlab.targets.objectives import Features
from vizlab.transforms.stack import TransformStack

log = logging.getLogger(__name__)
OptimizerFactory = Callable[[list[torch.Tensor]], torch.optim.Optimizer]


def jitter_crops(jitter: Jitter, x: torch.Tensor, taus: Sequence[tuple[int, int]]) -> torch.Tensor:
    """Each image's own jittered crop (Eq. 7)."""
    if len(set(taus)) == 1:
        return jitter.crop(x, taus[0])
    return torch.cat([jitter.crop(x[i : i + 1], tau) for i, tau in enumerate(taus)])


def data_seed(C: float | torch.Tensor, data: torch.Tensor) -> torch.Tensor:
    """d energy / d data = C for each image: the gradient autograd starts the data term's
    backward from (as ``(prior + C * data).sum()`` would hand it down, to the bit), so the
    product, sum and addition of the energy add no nodes to the graph."""
    return torch.ones_like(data).mul_(C)


def backward(roots: Sequence[torch.Tensor], seeds: Sequence[torch.Tensor]) -> None:
    """``torch.autograd.backward(roots, seeds)`` for seeds the engine makes in the roots'
    shapes and dtypes: for plain tensors outside functorch transforms, the autograd engine's
    call that ``backward`` makes after checking its arguments, without those checks (whose
    Python, a symbolic-shape comparison per root, costs more per step than the rest of the
    call's Python); anything else goes through ``torch.autograd.backward``."""
    if all(type(t) is torch.Tensor for t in roots) and not _functorch_active():
        _engine_run_backward(
            tuple(roots),
            tuple(seeds),
            False,
            False,
            (),
            allow_unreachable=True,
            accumulate_grad=True,
        )
    else:
        torch.autograd.backward(roots, seeds)


def _finetune(optimizer: torch.optim.Optimizer) -> None:
    """Sect. 3.4: momentum reset and a tenth of the learning rate."""
    if isinstance(optimizer, PreImageSGD):
        optimizer.reset_momentum()
        optimizer.scale_lr(0.1)
    else:
        for group in optimizer.param_groups:
            group["lr"] *= 0.1


def optimize(
    model: VisionModel,
    data_loss: Callable[[Features], torch.Tensor],
    layers: Sequence[str],
    param: ImageParam,
    optimizer: torch.optim.Optimizer | OptimizerFactory,
    *,
    iterations: int,
    C: float | torch.Tensor = 1.0,
    regularizers: RegularizerStack | None = None,
    transforms: TransformStack | None = None,
    jitter: Jitter | None = None,
    finetune_iterations: int = 0,
    generators: Sequence[torch.Generator | None] | None = None,
    progress: bool = False,
    desc: str = "pre-image",
    read_every: int | None = None,
) -> PreImageTrace:
    """Minimize ``penalties(x) + C * data_loss(features)`` over ``param``'s parameters.

    ``optimizer`` is an optimizer over ``param.parameters()`` or a factory taking them.
    ``regularizers`` add their penalties only when ``param.penalties`` (pixels: yes; the
    spectral parameterizations are a prior of their own); ``jitter`` (Eq. 7) crops the
    canvas, which must be ``jitter.pad`` pixels larger than the picture. ``generators`` are
    the per-image random streams of jitter and transforms (None: torch's global one).

    Raises :class:`vizlab.errors.NonFiniteError` naming the step and the term when the
    energy or the image goes NaN/inf. On Ctrl-C the loop stops and returns the state reached
    with ``interrupted=True``. ``read_every``: steps whose energy terms are read from the
    device at once (default: every step on the CPU, every 10 on a GPU; see energy.py).
    """
    jitter = jitter or Jitter(1)
    transforms = transforms or TransformStack()
    regularizers = regularizers or RegularizerStack()
    layers = list(layers)
    if callable(optimizer) and not isinstance(optimizer, torch.optim.Optimizer):
        optimizer = optimizer(param.parameters())
    canvas = param.paper()
    n = canvas.shape[0]
    h, w = canvas.shape[-2] - jitter.pad, canvas.shape[-1] - jitter.pad
    streams = list(generators) if generators is not None else [None] * n
    need_grad = param.wants_grad or transforms.wants_grad
    penalized = param.penalties and bool(regularizers.penalties)
    fused = penalized and regularizers.fused
    leaf = canvas.grad_fn is None  # the pixels themselves (the parameter, not a function of it)
    seed = data_seed(C, canvas.new_empty(n))  # made before the clock of the first step
    record = StepRecord(read_every or (1 if canvas.device.type == "cpu" else 10))
    history = record.history
    total = iterations + finetune_iterations
    interrupted = False
    bar = tqdm(range(total), desc=desc, disable=not progress, leave=False)
    try:
        for step in bar:
            record.start()
            finetuning = step >= iterations
            if step == iterations and finetuning:
                _finetune(optimizer)
            x = param.paper()
            # the data term's own gradient w.r.t. the image, for MaCo's alpha and Yosinski's
            # contribution clipping, flows through this extra view
            seen = x.view_as(x) if need_grad else x
            if need_grad:
                seen.retain_grad()
            if finetuning:
                crop = jitter.crop(seen, jitter.center())
            else:
                crop = jitter_crops(jitter, seen, [jitter.sample(g) for g in streams])
                if transforms.transforms:
                    crop = transforms(crop, streams, size=(h, w))  # centre crop
            feats = model.features(model.units.paper_to_model(crop), layers)
            data = data_loss(feats)
            if seed.shape != data.shape or seed.dtype != data.dtype:
                seed = data_seed(C, data)
            # backward from the data term (seeded with C) and the penalties' gradient: made
            # without autograd when they can (fused), else from their graph
            roots, seeds = [data], [seed]
            prior: torch.Tensor | None = None
            terms: dict[str, torch.Tensor] = {}
            if fused and not leaf:  # through the parameterization's graph with the data's
                prior, terms, prior_grad = regularizers.with_grad(x.detach())
                roots.append(x)
                seeds.append(prior_grad)
            elif penalized and not fused:
                prior, terms = regularizers(x)
                roots.append(prior)
                seeds.append(torch.ones_like(prior))
            for group in optimizer.param_groups:  # zero_grad(set_to_none=True), without its hooks
                for p in group["params"]:
                    p.grad = None
            backward(roots, seeds)
            if fused and leaf:  # into the pixels' gradient in place, while the update needs them
                prior, terms, x.grad = regularizers.with_grad(x, x.grad)  # (without autograd)
            # (spectral parameterizations are their own prior: no penalty terms)
            with torch.no_grad():
                energy = C * data if prior is None else prior + C * data
                record.measure(step, energy, data, terms, x)
            optimizer.step()
            param.project_()
            grad = seen.grad if need_grad else None
            param.observe(grad)
            if transforms.hooks:
                with torch.no_grad():
                    edited = transforms.after_step(step, param.paper().detach(), grad)
                    if edited is not None:
                        param.assign_(edited)
            record.done(step)
            if (step % 10 == 0 or step == total - 1) and history["energy"]:
                bar.set_postfix(
                    energy=f"{history['energy'][-1]:.4g}", data=f"{history['data'][-1]:.4g}"
                )
        record.flush()
    except KeyboardInterrupt:
        interrupted = True
        record.flush()
        log.warning("%s interrupted after %d of %d steps", desc, len(record.step_seconds), total)
    finally:
        bar.close()
    with torch.no_grad():
        final = jitter.crop(param.paper(), jitter.center()).detach().clone()
        extras = {k: jitter.crop(v, jitter.center()).clone() for k, v in param.extras().items()}
    if not interrupted:
        check_finite(total, float(final.sum()), final, final.new_zeros(1), {})
    return PreImageTrace(final, history, extras, record.step_seconds, interrupted)
