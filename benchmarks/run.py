"""Speed of one optimization step, in one run, against the physical limit and against a peer.

The physical limit of one step is the forward + backward pass of the network prefix that the
objective needs (SPEC §5). vizlab stops the forward pass at the deepest layer an objective
needs; torch-lucent's ``render_vis`` runs the whole network every step. For each objective we
time, on the same model, image size and thread count:

* ``limit``: forward to the layer + backward to the input (batch 1);
* ``vizlab``: one step of vizlab's activation maximization (Fourier parameterization with
  decorrelated colour and lucent's standard transforms, Adam) — the same work lucent does;
* ``vizlab_paper``: one step of the paper's pixel energy (alpha-norm + TV, Algorithm 1);
* ``lucent``: one step of ``render_vis`` with ``param.image(size, fft=True, decorrelate=True)``
  and its standard transforms (skipped if torch-lucent is not installed).

vizlab's steps are those of a real activation-maximization run: the run is set up once (M over
the photos, C, the parameterization and optimizer) and its engine is then called one step at a
time, each step timed as the engine times it (``ms_per_step``). The limit and the two vizlab
steps are interleaved step by step (in rotating order), so that a change in the machine's load
slows all three alike; each is the median of ``--steps`` steps. lucent's step is the
difference of two whole runs over the step count. Every figure is the best of ``--repeats``
rounds.

Usage: ``python benchmarks/run.py [--size 128] [--steps 50] [--threads 2] [--repeats 3]
[--layers blocks.1,blocks.3,blocks.5] [--out FILE] [--clock wall|cpu]``. ``--clock cpu``
times everything in the CPU time of the measuring thread (with ``--threads 1`` all the work
runs in it), so that time other processes take from a shared core is not counted. Results
are printed as a table and written to ``benchmarks/results/latest.json`` (or ``--out``),
with the thread count, the clock, the load average before and after, the torch version and
the commit of the tree measured. For figures
that other work on the machine disturbs least: ``taskset -c 0 nice -n -10 python
benchmarks/run.py --threads 1`` (one pinned thread at high priority; where the kernel groups
processes by session for scheduling, ``/proc/sys/kernel/sched_autogroup_enabled`` = 1, the
session's group needs the priority too: ``setsid sh -c 'echo -10 > /proc/self/autogroup;
exec ...'``).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}
clock = CLOCKS["wall"]
"""What every figure is timed with: wall time, or with ``--clock cpu`` the CPU time of the
measuring thread (all work runs in it at one thread), which leaves out the time that other
processes on a shared core take from it."""


def use_clock(name: str) -> None:
    """Time the limit, lucent and vizlab's engine (its per-step clock) with ``CLOCKS[name]``."""
    global clock
    clock = CLOCKS[name]
    import vizlab.preimage.energy as engine_clock

    engine_clock.time = SimpleNamespace(perf_counter=clock)


def limit_step(model, layer: str, size: int) -> Callable[[], float]:
    """One forward-to-``layer`` + backward-to-input at batch 1; returns its seconds."""
    x = torch.randn(1, 3, size, size, requires_grad=True)

    def step() -> float:
        t0 = clock()
        feats = model.features(x, [layer])
        feats[layer].mean().backward()
        x.grad = None
        return clock() - t0

    return step


def physical_limit(model, layer: str, size: int, steps: int = 30) -> float:
    """Median seconds of ``steps`` limit steps (after a warm-up)."""
    step = limit_step(model, layer, size)
    step()
    return statistics.median(step() for _ in range(steps))


def engine_step(overrides: list[str]) -> Callable[[], float]:
    """One step of the engine of a vizlab activation-maximization run; returns the seconds
    the engine logs for it. The run is set up by the method itself (a two-step run whose
    call of the engine is captured), and the engine is then called one step at a time on the
    same parameterization and optimizer."""
    from vizlab.api import context
    from vizlab.methods.activation_max import ActivationMax

    solve_module = sys.modules["vizlab.preimage.solve"]
    optimize = solve_module.optimize
    captured: dict = {}

    def capture(*args, **kwargs):
        captured.update(args=args, kwargs=kwargs)
        return optimize(*args, **kwargs)

    solve_module.optimize = capture
    try:
        quiet = ("progress=false", "logger=local", "method.iterations=2")
        ActivationMax().run(context(*overrides, *quiet))
    finally:
        solve_module.optimize = optimize
    kwargs = {**captured["kwargs"], "iterations": 1, "finetune_iterations": 0}

    def step() -> float:
        return optimize(*captured["args"], **kwargs).step_seconds[0]

    return step


def interleaved(steps: dict[str, Callable[[], float]], n: int) -> dict[str, float]:
    """Median seconds of each of ``steps`` over ``n`` rounds, one step of each per round in
    rotating order (after one warm-up step each)."""
    names = list(steps)
    for name in names:
        steps[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(n):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            times[name].append(steps[name]())
    return {name: statistics.median(t) for name, t in times.items()}


def lucent_step(module, layer: str, channel: int, size: int, steps: int) -> float | None:
    """Seconds per step of ``render_vis``. Each run gets its own copy of the module, made
    before the clock starts: ``render_vis`` hooks every module and never removes its hooks,
    so on a shared module they would pile up, slowing every later forward pass (lucent's and
    the limit's and vizlab's alike) and holding graph tensors that stop the module from being
    copied for the receptive-field probe."""
    try:
        from lucent.optvis import objectives, param, render, transform
    except ImportError:
        return None
    lucent_layer = layer.replace(".", "_")
    normalize = lambda x: (x - 0.5) / 0.5  # noqa: E731 - lite models use mean = std = 0.5
    transforms = [*transform.standard_transforms, normalize]

    def run(n: int) -> float:
        fresh = copy.deepcopy(module)
        t0 = clock()
        render.render_vis(
            fresh,
            objectives.channel(lucent_layer, channel),
            param_f=lambda: param.image(size, fft=True, decorrelate=True),
            transforms=transforms,
            thresholds=(n,),
            preprocess=False,
            progress=False,
            show_image=False,
            verbose=False,
        )
        return clock() - t0

    run(2)
    return (run(steps) - run(1)) / (steps - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--layers", default="blocks.1,blocks.3,blocks.5")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "latest.json"))
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    use_clock(args.clock)
    load_before, started = os.getloadavg(), time.strftime("%Y-%m-%d %H:%M:%S %Z")

    from vizlab.api import context

    model = context(f"data.size={args.size}", "device=cpu").model
    layers = args.layers.split(",")
    best: dict[tuple[str, str], float] = {}

    def keep(layer: str, what: str, seconds: float | None) -> None:
        if seconds is not None:
            best[layer, what] = min(seconds, best.get((layer, what), float("inf")))

    for _ in range(args.repeats):
        for layer in layers:
            common = [
                "method=activation_max",
                "target=channel",
                f"target.layer={layer}",
                "target.index=7",
                f"data.size={args.size}",
            ]
            fourier = [*common, "param=fourier", "transforms=standard", "optimizer=adam"]
            steps = {
                "limit": limit_step(model, layer, args.size),
                "vizlab": engine_step(fourier),
                "paper": engine_step(common),
            }
            for what, seconds in interleaved(steps, args.steps).items():
                keep(layer, what, seconds)
            keep(layer, "lucent", lucent_step(model.module, layer, 7, args.size, args.steps))
    rows = []
    for layer in layers:
        limit, fast, paper = best[layer, "limit"], best[layer, "vizlab"], best[layer, "paper"]
        lucent = best.get((layer, "lucent"))
        rows.append(
            {
                "layer": layer,
                "size": args.size,
                "limit_ms": 1e3 * limit,
                "vizlab_ms": 1e3 * fast,
                "vizlab_paper_ms": 1e3 * paper,
                "lucent_ms": None if lucent is None else 1e3 * lucent,
                "vizlab_over_limit": fast / limit,
                "vizlab_paper_over_limit": paper / limit,
                "lucent_over_vizlab": None if lucent is None else lucent / fast,
                "vizlab_over_lucent": None if lucent is None else fast / lucent,
            }
        )
    full = physical_limit(model, "output", args.size)
    print(
        f"tf_efficientnet_lite0, {args.size} px, batch 1, {args.threads} threads, "
        f"{args.clock} clock; "
        f"full forward+backward: {1e3 * full:.1f} ms"
    )
    print(
        f"{'channel objective':<18}{'limit':>9}{'vizlab':>9}{'x limit':>9}"
        f"{'paper':>9}{'x limit':>9}{'lucent':>9}{'vizlab/lucent':>15}"
    )
    for r in rows:
        lucent = "n/a" if r["lucent_ms"] is None else f"{r['lucent_ms']:.1f}"
        ratio = "n/a" if r["vizlab_over_lucent"] is None else f"{r['vizlab_over_lucent']:.2f}"
        print(
            f"{r['layer']:<18}{r['limit_ms']:>9.1f}{r['vizlab_ms']:>9.1f}"
            f"{r['vizlab_over_limit']:>9.2f}{r['vizlab_paper_ms']:>9.1f}"
            f"{r['vizlab_paper_over_limit']:>9.2f}{lucent:>9}{ratio:>15}"
        )
    load_after = os.getloadavg()
    autogroup = Path("/proc/self/autogroup")
    group = autogroup.read_text().strip() if autogroup.exists() else None
    print(f"load average (1, 5, 15 min) before {load_before}, after {load_after}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "machine": platform.processor() or platform.machine(),
                "threads": args.threads,
                "clock": args.clock,
                "steps": args.steps,
                "repeats": args.repeats,
                "started": started,
                "load_average_before": load_before,
                "load_average_after": load_after,
                "autogroup": group,
                "torch": torch.__version__,
                "commit": _commit(),
                "full_forward_backward_ms": 1e3 * full,
                "rows": rows,
            },
            indent=2,
        )
        + "\n"
    )


def _commit() -> str | None:
    """The commit of the measured tree (with "+changes" if it has uncommitted ones)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "vizlab"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return None
    return f"{head}+changes" if dirty else head or None


if __name__ == "__main__":
    main()
