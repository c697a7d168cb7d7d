"""Carlini & Wagner (2017) L2 attack (their sec. V.A): minimize ||x' - x||_2^2 + c * f(x')
over w with x' = (tanh(w) + 1) / 2 (the change of variables keeps x' in [0, 1]), f the logit
margin (their f_6, eq. for f_6 with confidence kappa), Adam, and an optional bounded binary
search over c per image.

Step size: Adam moves every coordinate by about ``lr`` per step whatever its gradient, so one
step changes the image by about lr / 2 * sqrt(#pixel values) in L2 -- about 0.2 at
224 x 224 with lr = 0.001, but 2 with the paper's lr = 0.01 (chosen for 28 px MNIST and
32 px CIFAR images). With 0.01 the first steps overshoot far past the decision boundary and
the 50 steps we can afford on a CPU never walk back (measured on EfficientNet-Lite0, 224 px:
mean L2 0.61 at lr 0.01, 0.15 at lr 0.001, against 0.25 for PGD-L2's smallest successful
radius), so the default is 0.001."""

from __future__ import annotations

import math

import torch
from tqdm.auto import tqdm

from vizlab.attacks.core import Classifier, as_classifier, resolve_labels
from vizlab.models.wrapper import VisionModel


def margin(logits: torch.Tensor, labels: torch.Tensor, targeted: bool) -> torch.Tensor:
    """Z_y - max_{i != y} Z_i (untargeted) or max_{i != t} Z_i - Z_t (targeted): the attack
    succeeds where this is negative."""
    own = logits.gather(1, labels[:, None]).squeeze(1)
    others = logits.scatter(1, labels[:, None], float("-inf")).amax(1)
    return others - own if targeted else own - others


def cw_l2(
    model: VisionModel | Classifier,
    x: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    target: int | torch.Tensor | None = None,
    c: float = 1.0,
    kappa: float = 0.0,
    steps: int = 100,
    lr: float = 0.001,
    binary_search_steps: int = 1,
    progress: bool = False,
) -> torch.Tensor:
    """The smallest-L2 adversarial image found per input; where none was found, the last
    iterate of the largest c tried (check success on the returned images)."""
    classify = as_classifier(model)
    x = x.detach()
    n = x.shape[0]
    labels, targeted = resolve_labels(classify, x, labels, target)
    w0 = torch.atanh((2 * x - 1).clamp(-1 + 1e-6, 1 - 1e-6))
    c_now = torch.full((n,), float(c), device=x.device)
    lower = torch.zeros(n, device=x.device)
    upper = torch.full((n,), math.inf, device=x.device)
    best_l2 = torch.full((n,), math.inf, device=x.device)
    best = x.clone()
    last = x.clone()
    total = binary_search_steps * steps
    bar = tqdm(total=total, desc="cw", disable=not progress, leave=False)
    for _ in range(binary_search_steps):
        w = w0.clone().requires_grad_(True)
        optimizer = torch.optim.Adam([w], lr=lr)
        found = torch.zeros(n, dtype=torch.bool, device=x.device)
        for _ in range(steps):
            with torch.enable_grad():
                x_adv = (torch.tanh(w) + 1) / 2
                logits = classify(x_adv)
                m = margin(logits, labels, targeted)
                l2sq = (x_adv - x).flatten(1).pow(2).sum(1)
                loss = l2sq + c_now * m.clamp(min=-kappa)
                optimizer.zero_grad()
                loss.sum().backward()
            with torch.no_grad():
                ok = m < -kappa if kappa > 0 else m < 0
                better = ok & (l2sq < best_l2)
                best_l2 = torch.where(better, l2sq, best_l2)
                best[better] = x_adv[better].detach()
                found |= ok
            optimizer.step()
            bar.update()
        with torch.no_grad():
            last = ((torch.tanh(w) + 1) / 2).detach()
            upper = torch.where(found, torch.minimum(upper, c_now), upper)
            lower = torch.where(found, lower, torch.maximum(lower, c_now))
            bounded = torch.isfinite(upper)
            c_now = torch.where(bounded, (lower + upper) / 2, c_now * 10)
    bar.close()
    never = ~torch.isfinite(best_l2)
    best[never] = last[never]
    return best
