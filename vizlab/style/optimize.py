"""Optimization of an image in [0, 1] by L-BFGS (as Gatys et al.) or Adam."""

from __future__ import annotations

from collections.abc import Callable

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
