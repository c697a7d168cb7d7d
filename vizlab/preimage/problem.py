"""One batch of pre-image problems, the optimizer's trace, and the per-image random streams.

The energy of Mahendran & Vedaldi, Eq. (1)/(7),

    x* = argmin_x  sum_r w_r R_r(x) + C E_tau[ l(Phi(jitter(x; tau)), Phi_0) ]

is shared by inversion, activation maximization and caricaturization, which differ only in
the loss l, the constant C and the start point; :class:`PreImageProblem` holds those.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from vizlab.targets.objectives import Features


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
    C: float | torch.Tensor
    stride: int
    finetune_iterations: int = 0
    keys: Sequence[int] | None = None
    batch: int | None = None
    size: tuple[int, int] | None = None


@dataclass
class PreImageTrace:
    """The optimized images (paper units, network size), the per-step energy terms, the
    parameterization's extra per-image maps (e.g. MaCo's ``alpha``, N x 1 x H x W), the wall
    time of every optimization step in seconds, and whether the loop was interrupted
    (Ctrl-C) before its last step -- then ``x`` is the image at the step reached."""

    x: torch.Tensor
    history: dict[str, list[float]] = field(default_factory=dict)
    extras: dict[str, torch.Tensor] = field(default_factory=dict)
    step_seconds: list[float] = field(default_factory=list)
    interrupted: bool = False

    def timing(self) -> dict[str, float]:
        """``optimization_seconds`` (all steps) and ``ms_per_step``: the median step, robust
        to the first (warm-up) step and to scheduling hiccups; benchmarks/run.py uses it."""
        if not self.step_seconds:
            return {}
        return {
            "optimization_seconds": sum(self.step_seconds),
            "ms_per_step": 1e3 * statistics.median(self.step_seconds),
        }


def join_traces(traces: Sequence[PreImageTrace]) -> PreImageTrace:
    """One trace of several batches run one after the other: images and maps concatenated,
    each per-step curve averaged over the batches weighted by their number of images, the
    step times of all batches, interrupted if any was."""
    if len(traces) == 1:
        return traces[0]
    counts = [t.x.shape[0] for t in traces]
    history: dict[str, list[float]] = {}
    for key in traces[0].history:
        curves = [t.history.get(key, []) for t in traces]
        steps = min(len(c) for c in curves)
        history[key] = [
            sum(n * c[i] for n, c in zip(counts, curves)) / sum(counts) for i in range(steps)
        ]
    extras = {k: torch.cat([t.extras[k] for t in traces]) for k in traces[0].extras}
    return PreImageTrace(
        torch.cat([t.x for t in traces]),
        history,
        extras,
        [s for t in traces for s in t.step_seconds],
        any(t.interrupted for t in traces),
    )


SEED_STRIDE = 1_000_003
"""Image ``key`` uses seeds ``seed + stream + SEED_STRIDE * key`` (stream 0: start,
1: transforms), so key 0 keeps the streams ``seed`` and ``seed + 1``."""


def image_generators(seed: int, keys: Sequence[int], stream: int) -> list[torch.Generator]:
    """One CPU generator per image for the given random stream (0: start, 1: transforms)."""
    out = []
    for key in keys:
        g = torch.Generator()
        g.manual_seed(int(seed) + stream + SEED_STRIDE * int(key))
        out.append(g)
    return out


def image_keys(ids: Sequence[int], inits: int = 1) -> list[int]:
    """Keys of images laid out id-major with ``inits`` starts each (``repeat_interleave``):
    ``id + 100_000 * start``, so the first start of an id (a unit, a reference image) has
    the same random streams whatever else is in the batch."""
    return [int(i) + 100_000 * k for i in ids for k in range(inits)]
