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
import time
from collections.abc import Callable, Sequence

import torch
from tqdm.auto import tqdm

from vizlab.models.wrapper import VisionModel
from vizlab.optim import PreImageSGD
from vizlab.params.base import ImageParam
from vizlab.preimage.energy import check_finite
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
) -> PreImageTrace:
    """Minimize ``penalties(x) + C * data_loss(features)`` over ``param``'s parameters.

    ``optimizer`` is an optimizer over ``param.parameters()`` or a factory taking them.
    ``regularizers`` add their penalties only when ``param.penalties`` (pixels: yes; the
    spectral parameterizations are a prior of their own); ``jitter`` (Eq. 7) crops the
    canvas, which must be ``jitter.pad`` pixels larger than the picture. ``generators`` are
    the per-image random streams of jitter and transforms (None: torch's global one).

    Raises :class:`vizlab.errors.NonFiniteError` naming the step and the term when the
    energy or the image goes NaN/inf. On Ctrl-C the loop stops and returns the state reached
    with ``interrupted=True``.
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
    history: dict[str, list[float]] = {"energy": [], "data": []}
    total = iterations + finetune_iterations
    step_seconds: list[float] = []
    interrupted = False
    bar = tqdm(range(total), desc=desc, disable=not progress, leave=False)
    try:
        for step in bar:
            started = time.perf_counter()
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
            prior, terms = regularizers(x) if param.penalties else (data.new_zeros(n), {})
            energy = prior + C * data
            energy_mean = float(energy.detach().mean())
            check_finite(step, energy_mean, x, data, terms)
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
            history["energy"].append(energy_mean)
            history["data"].append(float(data.detach().mean()))
            for name, value in terms.items():
                history.setdefault(name, []).append(float(value.detach().mean()))
            step_seconds.append(time.perf_counter() - started)  # after float(): synchronized
            if step % 10 == 0 or step == total - 1:
                bar.set_postfix(
                    energy=f"{history['energy'][-1]:.4g}", data=f"{history['data'][-1]:.4g}"
                )
    except KeyboardInterrupt:
        interrupted = True
        log.warning("%s interrupted after %d of %d steps", desc, len(step_seconds), total)
    finally:
        bar.close()
    with torch.no_grad():
        final = jitter.crop(param.paper(), jitter.center()).detach().clone()
        extras = {k: jitter.crop(v, jitter.center()).clone() for k, v in param.extras().items()}
    if not interrupted:
        check_finite(total, float(final.sum()), final, final.new_zeros(1), {})
    return PreImageTrace(final, history, extras, step_seconds, interrupted)
