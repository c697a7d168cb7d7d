"""Optimization of an image in [0, 1] by L-BFGS (as Gatys et al.) or Adam."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from vizlab.errors import VizlabError

Objective = Callable[[torch.Tensor], dict[str, torch.Tensor]]
"""Image batch -> named scalar loss terms, one of them ``total`` (what is minimized)."""

OPTIMIZERS = ("lbfgs", "adam")


def optimize_image(
    x0: torch.Tensor,
    objective: Objective,
    *,
    optimizer: str = "lbfgs",
    iterations: int = 200,
    lr: float = 1.0,
    progress: bool = False,
    desc: str = "optimize",
) -> tuple[torch.Tensor, dict[str, list[float]]]:
    """Minimize ``objective(x)['total']`` over x starting at ``x0``; ``iterations`` counts
    forward+backward evaluations. Returns the final image and the per-evaluation terms."""
    if optimizer not in OPTIMIZERS:
        raise VizlabError(
            f"method.optimizer={optimizer!r} is not supported. Valid: lbfgs (Gatys et al.; "
            "lr ~ 1) or adam (lr ~ 0.02)."
        )
    if iterations < 1 or not lr > 0:
        raise VizlabError(
            f"method.iterations={iterations} and method.lr={lr} must both be positive, e.g. "
            "method.iterations=200 with method.lr=1 (lbfgs) or method.lr=0.02 (adam)."
        )
    x0 = x0.detach().clamp(0, 1)
    lbfgs = optimizer == "lbfgs"
    # L-BFGS with a strong-Wolfe line search (step sizes adapt to the loss scale of any model)
    # on x = sigmoid(z), which keeps x in (0, 1) without clamping the line search's points;
    # Adam works on x directly and clamps after every step.
    param = torch.logit(x0.clamp(1e-3, 1 - 1e-3)) if lbfgs else x0.clone()
    param.requires_grad_(True)
    image = torch.sigmoid if lbfgs else (lambda p: p)
    history: dict[str, list[float]] = {}
    bar = tqdm(total=iterations, desc=desc, disable=not progress, leave=False)
    with torch.no_grad():  # the optimizer sees total / initial total: same minimizer, but
        scale = 1.0 / max(float(objective(x0)["total"]), 1e-30)  # line-search tolerances fit

    def closure() -> torch.Tensor:
        opt.zero_grad()
        terms = objective(image(param))
        total = terms["total"] * scale
        total.backward()
        for name, value in terms.items():
            history.setdefault(name, []).append(float(value.detach()))
        bar.update()
        return total

    if lbfgs:
        opt = torch.optim.LBFGS(
            [param],
            lr=lr,
            max_iter=iterations,
            max_eval=iterations,
            history_size=50,
            tolerance_grad=0.0,
            tolerance_change=0.0,
            line_search_fn="strong_wolfe",
        )
        opt.step(closure)
    else:
        opt = torch.optim.Adam([param], lr=lr)
        for _ in range(iterations):
            closure()
            opt.step()
            with torch.no_grad():
                param.clamp_(0, 1)
    bar.close()
    return image(param).detach().clamp(0, 1), history


@dataclass
class Optimized:
    """An optimized image with its per-evaluation loss terms, the terms before and after
    (as floats) and the optimization time in seconds."""

    image: torch.Tensor
    history: dict[str, list[float]]
    before: dict[str, float]
    after: dict[str, float]
    seconds: float


def optimize_timed(
    x0: torch.Tensor,
    objective: Objective,
    *,
    optimizer: str = "lbfgs",
    iterations: int = 200,
    lr: float = 1.0,
    baseline: torch.Tensor | None = None,
    progress: bool = False,
    desc: str = "optimize",
) -> Optimized:
    """:func:`optimize_image`, timed, with the objective's terms evaluated at ``baseline``
    (default ``x0``) before and at the result after (the shared loop of the texture and
    style-transfer methods)."""
    with torch.no_grad():
        before = _floats(objective(x0 if baseline is None else baseline))
    start = time.perf_counter()
    x, history = optimize_image(
        x0,
        objective,
        optimizer=optimizer,
        iterations=iterations,
        lr=lr,
        progress=progress,
        desc=desc,
    )
    seconds = time.perf_counter() - start
    with torch.no_grad():
        after = _floats(objective(x))
    return Optimized(x, history, before, after, seconds)


def _floats(terms: dict[str, torch.Tensor]) -> dict[str, float]:
    return {name: float(value) for name, value in terms.items()}
