"""Many units in one optimization batch vs one run per unit (issue 3, part 5).

Renders ``--units`` channels of one layer by activation maximization twice, on the same model
object, with the same settings:

* ``batched``: one run with ``target.index=[0, 1, ..., U-1]`` (one image per unit, one batch);
* ``separate``: U runs with ``target.index=u`` each (what ``-m target.index=0,1,...`` does,
  minus process start-up and model loading, which a real sweep pays on top).

Set-up work both share is done beforehand and not timed: the model is loaded once, its
receptive fields are measured, and each unit's maximum M over the reference photos is cached.
Because every unit has its own random streams (keyed by the unit index), both ways give the
same images; the largest pixel difference is reported as a check.

Also timed: one forward + backward to the layer for the whole batch vs for one image (the
physical part of a step), which shows whether the CPU gains from batching at that size.

Usage: ``python benchmarks/batched_units.py [--size 96 224] [--iterations 30] [--units 16]
[--layer blocks.3] [--model efficientnet_lite0] [--param pixel] [--threads 2]``. Prints a
summary and writes ``benchmarks/results/batched_units.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _fwd_bwd_ms(model, layer: str, n: int, size: int, repeats: int = 3) -> float:
    """Best-of time (ms) of forward to ``layer`` + backward to the input for n images."""
    x = torch.randn(n, 3, size, size, requires_grad=True)

    def step() -> None:
        model.features(x, [layer])[layer].mean().backward()
        x.grad = None

    step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return 1000 * min(times)


def measure(args: argparse.Namespace, size: int) -> dict:
    """Batched vs separate wall times at one image size."""
    import matplotlib.pyplot as plt

    from vizlab.cli import compose
    from vizlab.methods.activation_max import ActivationMax, unit_maxima
    from vizlab.methods.base import RunContext
    from vizlab.runner import load_model

    base = [
        f"model={args.model}",
        f"data.size={size}",
        "method=activation_max",
        "target=channel",
        f"target.layer={args.layer}",
        f"method.iterations={args.iterations}",
        f"param={args.param}",
        "progress=false",
        "logger=local",
    ]
    units = list(range(args.units))
    t0 = time.perf_counter()
    model = load_model(compose(base + ["target.index=0"]), torch.device("cpu"))
    setup = {"load_model_s": time.perf_counter() - t0}

    def context(index: str) -> RunContext:
        return RunContext(compose([*base, f"target.index={index}"]), model, progress=False)

    def run(ctx: RunContext) -> torch.Tensor:
        images = ActivationMax().run(ctx).tensors["visualization"]
        plt.close("all")  # the result's figures; a logger would save and close them
        return images

    t0 = time.perf_counter()
    batched_ctx = context(f"[{','.join(map(str, units))}]")
    separate_ctx = [context(str(u)) for u in units]
    model.receptive_field(args.layer)
    for ctx in [batched_ctx, *separate_ctx]:
        unit_maxima(ctx, ctx.target)  # M per unit, cached per target
    setup["receptive_field_and_maxima_s"] = time.perf_counter() - t0
    warm = context("0")
    warm.cfg.method.iterations = 1
    run(warm)  # warm-up (allocator, kernels)

    t0 = time.perf_counter()
    batched = run(batched_ctx)
    batched_s = time.perf_counter() - t0
    separate_images, per_run = [], []
    t0 = time.perf_counter()
    for ctx in separate_ctx:
        t1 = time.perf_counter()
        separate_images.append(run(ctx))
        per_run.append(time.perf_counter() - t1)
    separate_s = time.perf_counter() - t0
    diff = (batched - torch.cat(separate_images)).abs().max()
    one = _fwd_bwd_ms(model, args.layer, 1, size)
    many = _fwd_bwd_ms(model, args.layer, args.units, size)
    return {
        "size": size,
        "batched_s": batched_s,
        "separate_s": separate_s,
        "speedup": separate_s / batched_s,
        "batched_ms_per_unit_step": 1000 * batched_s / (args.units * args.iterations),
        "separate_ms_per_unit_step": 1000 * separate_s / (args.units * args.iterations),
        "separate_per_run_s": per_run,
        "fwd_bwd_ms_batch_1": one,
        f"fwd_bwd_ms_batch_{args.units}": many,
        "fwd_bwd_batching_gain": args.units * one / many,
        "max_pixel_difference_batched_vs_separate": float(diff),
        "setup_not_timed": setup,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--layer", default="blocks.3")
    parser.add_argument("--units", type=int, default=16)
    parser.add_argument("--size", type=int, nargs="+", default=[96, 224])
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--param", default="pixel")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/batched_units.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    runs = [measure(args, size) for size in args.size]
    result = {
        "model": args.model,
        "layer": args.layer,
        "units": args.units,
        "iterations": args.iterations,
        "param": args.param,
        "threads": args.threads,
        "runs": runs,
        "load_average_before_after": [load_before, os.getloadavg()[0]],
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
    }
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{args.units} channels of {args.model} {args.layer}, {args.iterations} iterations, "
        f"param={args.param}, {args.threads} threads "
        f"(load average before / after {result['load_average_before_after']}):"
    )
    for r in runs:
        per_image = r[f"fwd_bwd_ms_batch_{args.units}"] / args.units
        print(
            f"  {r['size']:>4} px: batched (one run, target.index=[0..{args.units - 1}]) "
            f"{r['batched_s']:.1f} s | separate ({args.units} runs) {r['separate_s']:.1f} s | "
            f"speed-up {r['speedup']:.2f}x | fwd+bwd per image batch 1 / {args.units}: "
            f"{r['fwd_bwd_ms_batch_1']:.1f} / {per_image:.1f}"
            f" ms | max |batched - separate| {r['max_pixel_difference_batched_vs_separate']:.1e}"
        )
    print(f"  written to {path}")
    return result


if __name__ == "__main__":
    main()
