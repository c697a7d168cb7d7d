"""The pre-image energy of Mahendran & Vedaldi, Eq. (1)/(7), minimized by Algorithm 1:

    x* = argmin_x  sum_r w_r R_r(x) + C E_tau[ l(Phi(jitter(x; tau)), Phi_0) ]

shared by inversion, activation maximization and caricaturization, which differ only in the
loss l, the constant C and the start point. Images are optimized in paper units (RGB 0..255,
mean subtracted) so the paper's constants apply as printed; the model sees them converted to
its own input normalization.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from vizlab.methods.base import RunContext
from vizlab.optim import PreImageSGD, build_optimizer
from vizlab.optim.preimage_sgd import project_pixels
from vizlab.targets.objectives import Features


@dataclass
class PreImageProblem:
    """One batch of independent pre-image problems.

    ``data_loss`` maps captured features to l(.) per image; ``x_init`` is N x 3 x H x W in
    paper units at the network's input size; ``stride`` sets the jitter T."""

    data_loss: Callable[[Features], torch.Tensor]
    layers: list[str]
    x_init: torch.Tensor
    C: float
    stride: int
    finetune_iterations: int = 0


@dataclass
class PreImageTrace:
    """The optimized images (paper units, network size) and the per-step energy terms."""

    x: torch.Tensor
    history: dict[str, list[float]] = field(default_factory=dict)


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


def optimize_preimage(
    ctx: RunContext, problem: PreImageProblem, iterations: int, desc: str = "pre-image"
) -> PreImageTrace:
    """Run Algorithm 1 (or Adam) on the energy; fine-tuning runs without jitter at a tenth of
    the learning rate with the momentum reset (Sect. 3.4)."""
    model, units = ctx.model, ctx.model.units
    B, alpha, b_plus = prior_constants(ctx)
    stack = ctx.regularizers
    jitter = stack.jitter(problem.stride)
    x = pad_for_jitter(problem.x_init.to(ctx.device), jitter.pad).detach().clone()
    x.requires_grad_(True)
    h, w = problem.x_init.shape[-2:]
    optimizer = build_optimizer(
        ctx.cfg.optimizer, [x], num_pixels=h * w, B=B, alpha=alpha, bound=b_plus
    )
    algorithm1 = isinstance(optimizer, PreImageSGD)
    generator = ctx.generator(offset=1)
    history: dict[str, list[float]] = {"energy": [], "data": []}
    total = iterations + problem.finetune_iterations
    bar = tqdm(range(total), desc=desc, disable=not ctx.progress, leave=False)
    for step in bar:
        finetuning = step >= iterations
        if step == iterations and finetuning:
            if algorithm1:
                optimizer.reset_momentum()
                optimizer.scale_lr(0.1)
            else:
                for group in optimizer.param_groups:
                    group["lr"] *= 0.1
        tau = jitter.center() if finetuning else jitter.sample(generator)
        crop = jitter.crop(x, tau)
        feats = model.features(units.paper_to_model(crop), problem.layers)
        data = problem.data_loss(feats)
        prior, terms = stack(x)
        energy = prior + problem.C * data
        optimizer.zero_grad(set_to_none=True)
        energy.sum().backward()
        optimizer.step()
        if not algorithm1:
            with torch.no_grad():
                project_pixels(x, b_plus)
        history["energy"].append(float(energy.detach().mean()))
        history["data"].append(float(data.detach().mean()))
        for name, value in terms.items():
            history.setdefault(name, []).append(float(value.mean()))
        if step % 10 == 0 or step == total - 1:
            bar.set_postfix(
                energy=f"{history['energy'][-1]:.4g}", data=f"{history['data'][-1]:.4g}"
            )
    with torch.no_grad():
        final = jitter.crop(x, jitter.center()).detach().clone()
    return PreImageTrace(final, history)


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
