"""Attribution speed in one run: vizlab against captum and pytorch-grad-cam and against the
physical limit, on the same model (the offline EfficientNet-Lite0, NHWC weights as vizlab
loads it), the same input (chelsea) and the same thread count.

* ``gradient``: vanilla gradient; limit = one forward + backward to the input.
* ``integrated_gradients``: 50 Gauss-Legendre points in batches of 16 (captum's
  ``internal_batch_size``); limit = forward + backward passes of 16, 16, 16 and 2 images.
* ``occlusion``: 32 px patch, stride 16 (169 windows at 224 px), 4 occluded images per pass
  (captum's ``perturbations_per_eval``); limit = one forward pass at batch 4 per 4 windows
  (inference mode).
* ``smoothgrad``: SmoothGrad-Squared of the gradient, 25 noisy copies (sigma 15 % of the
  input range) in batches of 16 (captum's ``NoiseTunnel`` with ``nt_samples_batch_size``);
  limit = forward + backward passes of 16 and 9 images.
* ``gradcam``: Grad-CAM at the final feature map; limit = one forward + the backward from the
  class score to that feature map (not to the input: Grad-CAM needs no input gradient).

``--occlusion-batch-sizes 1 4 32`` also times vizlab's occlusion map at each batch size (and
checks that every batch size gives the same map): the measurement behind ``batch_size: auto``
of ``method=occlusion``.

Usage: ``python benchmarks/attribution.py [--size 224] [--threads 2] [--repeats 3]
[--occlusion-batch-sizes 1 4 32]``. Prints a table and writes
``benchmarks/results/attribution.json``. Peers that are not installed are reported as n/a
(``pip install -e ".[peers]"``).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.run import best_of  # noqa: E402 - after the path set-up


def fwd_bwd(model: torch.nn.Module, x: torch.Tensor, target: int) -> None:
    x = x.detach().requires_grad_(True)
    model(x)[:, target].sum().backward()


def fwd_bwd_to(model: torch.nn.Module, layer: torch.nn.Module, x: torch.Tensor, t: int) -> None:
    """Forward, then the gradient of the class score with respect to ``layer``'s output."""
    box = {}
    handle = layer.register_forward_hook(lambda _m, _i, out: box.update(out=out))
    try:
        with torch.enable_grad():  # x needs a grad for the graph; only the layer's is taken
            score = model(x.detach().requires_grad_(True))[:, t].sum()
            torch.autograd.grad(score, box["out"])
    finally:
        handle.remove()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--occlusion-batch-sizes", type=int, nargs="*", default=[])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from vizlab.api import context
    from vizlab.attribution import (
        GradCAM,
        Gradient,
        IntegratedGradients,
        Occlusion,
        SmoothGrad,
        default_cam_layer,
    )
    from vizlab.data.images import builtin_photo, preprocess

    vm = context(f"data.size={args.size}", "device=cpu").model
    model = vm.module
    x = vm.units.unit_to_model(preprocess(builtin_photo("chelsea"), vm.spec)[None])
    with torch.no_grad():
        t = int(model(x).argmax())
    layer = dict(model.named_modules())[default_cam_layer(model, vm.spec.size)]
    r = args.repeats
    windows = ((args.size - 32) // 16 + 1) ** 2  # 32 px patch, stride 16

    def ours_gradcam():
        with GradCAM(model, layer) as cam:
            return cam.maps(x, t)

    def occluded_passes():
        with torch.inference_mode():
            for _ in range(0, windows, 4):
                model(x.expand(4, -1, -1, -1))

    rows = {
        "gradient": {
            "limit": best_of(lambda: fwd_bwd(model, x, t), r),
            "vizlab": best_of(lambda: Gradient(model).attribute(x, t), r),
        },
        "integrated_gradients": {
            "limit": best_of(
                lambda: [fwd_bwd(model, x.expand(b, -1, -1, -1), t) for b in (16, 16, 16, 2)], r
            ),
            "vizlab": best_of(
                lambda: IntegratedGradients(model).attribute(
                    x, t, n_steps=50, internal_batch_size=16
                ),
                r,
            ),
        },
        "occlusion": {
            "limit": best_of(occluded_passes, r),
            "vizlab": best_of(
                lambda: Occlusion(model).attribute(x, t, 32, 16, baselines=0.0, batch_size=4), r
            ),
        },
        "smoothgrad": {
            "limit": best_of(
                lambda: [fwd_bwd(model, x.expand(b, -1, -1, -1), t) for b in (16, 9)], r
            ),
            "vizlab": best_of(
                lambda: SmoothGrad(Gradient(model)).attribute(
                    x, t, n_samples=25, noise_level=0.15, squared=True, batch_size=16
                ),
                r,
            ),
        },
        "gradcam": {
            "limit": best_of(lambda: fwd_bwd_to(model, layer, x, t), r),
            "vizlab": best_of(ours_gradcam, r),
        },
    }
    try:
        from captum import attr as captum_attr

        rows["gradient"]["peer"] = best_of(
            lambda: captum_attr.Saliency(model).attribute(
                x.clone().requires_grad_(True), target=t, abs=False
            ),
            r,
        )
        rows["integrated_gradients"]["peer"] = best_of(
            lambda: captum_attr.IntegratedGradients(model).attribute(
                x, target=t, n_steps=50, internal_batch_size=16
            ),
            r,
        )
        rows["occlusion"]["peer"] = best_of(
            lambda: captum_attr.Occlusion(model).attribute(
                x,
                sliding_window_shapes=(3, 32, 32),
                strides=(3, 16, 16),
                baselines=0.0,
                target=t,
                perturbations_per_eval=4,
            ),  # fmt: skip
            r,
        )
        sigma = 0.15 * float(x.max() - x.min())
        rows["smoothgrad"]["peer"] = best_of(
            lambda: captum_attr.NoiseTunnel(captum_attr.Saliency(model)).attribute(
                x,
                nt_type="smoothgrad_sq",
                nt_samples=25,
                nt_samples_batch_size=16,
                stdevs=sigma,
                target=t,
                abs=False,
            ),  # fmt: skip
            r,
        )
    except ImportError:
        pass
    try:
        import pytorch_grad_cam as pgc
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        def theirs_gradcam():
            with pgc.GradCAM(model=model, target_layers=[layer]) as cam:
                return cam(input_tensor=x.clone().requires_grad_(True),
                           targets=[ClassifierOutputTarget(t)])  # fmt: skip

        rows["gradcam"]["peer"] = best_of(theirs_gradcam, r)
    except ImportError:
        pass

    peers = {"gradcam": "pytorch-grad-cam"}
    print(f"tf_efficientnet_lite0 (NHWC), chelsea at {args.size} px, {args.threads} threads")
    print(
        f"{'method':<22}{'limit':>10}{'vizlab':>10}{'x limit':>9}{'peer':>10}"
        f"{'peer/vizlab':>13}  peer"
    )
    out = []
    for name, row in rows.items():
        peer = row.get("peer")
        ratio = f"{peer / row['vizlab']:.2f}" if peer else "n/a"
        print(
            f"{name:<22}{1e3 * row['limit']:>8.1f}ms{1e3 * row['vizlab']:>8.1f}ms"
            f"{row['vizlab'] / row['limit']:>9.2f}"
            f"{(f'{1e3 * peer:.1f}ms' if peer else 'n/a'):>10}{ratio:>13}"
            f"  {peers.get(name, 'captum')}"
        )
        out.append({"method": name, **{f"{k}_ms": 1e3 * v for k, v in row.items()}})
    batch_rows = []
    if args.occlusion_batch_sizes:
        reference = Occlusion(model).attribute(x, t, 32, 16, baselines=0.0, batch_size=1)
        print(f"\nocclusion ({windows} windows) by batch size, {args.threads} threads")
        for b in args.occlusion_batch_sizes:
            seconds = best_of(
                lambda b=b: Occlusion(model).attribute(x, t, 32, 16, baselines=0.0, batch_size=b),
                r,
            )
            again = Occlusion(model).attribute(x, t, 32, 16, baselines=0.0, batch_size=b)
            diff = float((again - reference).abs().max())
            print(f"  batch {b:>3}: {1e3 * seconds:8.1f} ms   max |map - map(batch 1)| {diff:.1e}")
            batch_rows.append({"batch_size": b, "ms": 1e3 * seconds, "max_abs_diff": diff})
    results = ROOT / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "attribution.json").write_text(
        json.dumps(
            {
                "machine": platform.machine(),
                "threads": args.threads,
                "size": args.size,
                "torch": torch.__version__,
                "rows": out,
                "occlusion_batch_sizes": batch_rows,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
