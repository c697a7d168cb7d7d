"""Visualization by activation maximization (M&V Sect. 6): l = -<Phi(x), Phi0>/Z (Eq. 4) with
Phi0 the one-hot indicator of a unit and Z = M rho^2 (Eq. 9), C = 1, no fine-tuning.

M is the unit's maximum over a reference image set (the paper uses ILSVRC val; offline we use
the built-in photos and their crops, or ``data=folder`` images with
``method.reference_set=data``); rho is the unit's receptive-field size, or max(H, W) for
non-spatial outputs such as logits (the paper's choice for a scalar score, Sect. 6.1).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf

from vizlab.data.reference_set import photo_set
from vizlab.errors import VizlabError
from vizlab.methods.base import Method, Result, RunContext
from vizlab.methods.preimage import PreImageOptions, engine_settings, mark_interrupted, options_of
from vizlab.metrics import topk_labels
from vizlab.metrics.transfer import transfer_metrics
from vizlab.models.wrapper import OUTPUT
from vizlab.plotting import curves, grid, labelled_grid
from vizlab.preimage import (
    PreImageProblem,
    evaluate,
    image_keys,
    resolve_C,
    solve,
    to_unit_images,
    unit_C,
)
from vizlab.preimage.calibration import check_C
from vizlab.preimage.memory import fitting_batch, is_out_of_memory
from vizlab.preimage.problem import PreImageTrace, join_traces
from vizlab.schema import check_choice, check_positive
from vizlab.targets import Diversity, TargetSpec, build_target
from vizlab.targets.objectives import gram_similarity

REFERENCE_SETS = ("photos", "data")
log = logging.getLogger(__name__)
_MAX_CACHE: dict[tuple, torch.Tensor] = {}


@dataclass
class ActivationMaxOptions(PreImageOptions):
    """``C``: ``auto`` (balanced per unit, see vizlab/preimage/calibration.py) or a number
    > 0; ``rho`` > 0 or null (the receptive field); ``reference_set`` where M is measured;
    ``diversity`` >= 0 (Olah et al. 2017) on ``diversity_layer``; ``transfer_models`` other
    offline models that rank the class of a logit target; ``batch_size`` images optimized at
    once (null: as many as fit in memory, see vizlab/preimage/memory.py)."""

    C: Any
    C_balance: float
    init_scale: float
    rho: float | None
    reference_set: str
    diversity: float
    diversity_layer: str | None
    transfer_models: list[str]
    batch_size: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_C("C", self.C)
        check_positive("C_balance", self.C_balance)
        check_positive("init_scale", self.init_scale)
        if self.rho is not None:
            check_positive("rho", self.rho)
        check_choice("reference_set", self.reference_set, REFERENCE_SETS)
        check_positive("diversity", self.diversity, allow_zero=True)
        if self.batch_size is not None:
            check_positive("batch_size", self.batch_size, integer=True)


@torch.no_grad()
def unit_maxima(
    ctx: RunContext, target: TargetSpec, batch: int = 16, use_data: bool = False
) -> torch.Tensor:
    """M per unit: the objective's maximum over the reference image set (the built-in
    photos and their crops, or with ``use_data`` the run's data images)."""
    model = ctx.model
    key = (model.name, model.spec.size, repr(target.objective), use_data)
    if key not in _MAX_CACHE:
        images = ctx.references.images if use_data else photo_set(model.spec)[0]
        units = target.num_units
        best = torch.full((units,), -float("inf"))
        for start in range(0, images.shape[0], batch):
            chunk = model.units.unit_to_model(images[start : start + batch].to(ctx.device))
            n = chunk.shape[0]
            feats = model.features(chunk, list(target.objective.layers))
            # every image scored for every unit: features laid out as units x images
            rep = {k: v.repeat(units, *([1] * (v.dim() - 1))) for k, v in feats.items()}
            scores = target.objective(rep).view(units, n).cpu()
            best = torch.maximum(best, scores.max(1).values)
        _MAX_CACHE[key] = best
    return _MAX_CACHE[key]


def transfer_labels(labels: list[str], probs: list[float], metrics: dict) -> list[str]:
    """Tile titles for logit visualizations: the class, its probability and its rank under
    each transfer model (``lite1 #3``)."""
    out = []
    for i, (label, p) in enumerate(zip(labels, probs)):
        ranks = [
            f"{m.replace('efficientnet_', '')} #{metrics[f'transfer_{m}_target_rank_per_image'][i]}"
            for m in metrics.get("transfer_models", [])
        ]
        head, _, rest = label.partition(",")
        init = rest[rest.rfind(" #") :] if " #" in rest else ""  # multifaceted: keep '#k'
        others = f"  {', '.join(ranks)}" if ranks else ""
        out.append(f"{head}{init}\np={p:.2f}{others}")
    return out


def diversity_term(
    ctx: RunContext, opts: ActivationMaxOptions, inits: int
) -> tuple[float, Diversity | None]:
    """``method.diversity`` (weight) on ``method.diversity_layer`` (default: the target layer):
    Olah et al. 2017's diversity among the ``num_inits`` images of each unit."""
    weight = float(opts.diversity)
    if not weight:
        return 0.0, None
    if inits < 2:
        raise VizlabError(
            f"method.diversity={weight} compares the visualizations of one unit with each other, "
            f"so it needs method.num_inits >= 2 (got {inits}); e.g. method.num_inits=4."
        )
    layer = opts.diversity_layer or ctx.target.layer
    ctx.model.resolve(layer)
    return weight, Diversity(layer, inits)


def chunkable(ctx: RunContext, target: TargetSpec) -> bool:
    """Whether the units can be split into batches: a target with ``index`` (not a composite
    or a direction, whose units come from their terms or vector)."""
    node = ctx.cfg.target
    return bool(target.indices) and target.kind != "composite" and "index" in node


def sub_target(ctx: RunContext, target: TargetSpec, positions: list[int]) -> TargetSpec:
    """The target restricted to the units at ``positions`` of ``target.indices``."""
    indices = [target.indices[p] for p in positions]
    return build_target(OmegaConf.merge(ctx.cfg.target, {"index": indices}), ctx.model)


def run_in_chunks(
    solve_units: Callable[[list[int]], PreImageTrace],
    units: int,
    inits: int,
    limit: int,
    splittable: bool,
) -> tuple[list[PreImageTrace], int]:
    """Solve ``units`` (x ``inits`` images each) in batches of at most ``limit`` images
    (whole units; all at once when not ``splittable``), halving the batch with a warning on
    an out-of-memory error. Stops after a batch Ctrl-C interrupted; returns the traces and
    the number of units done."""
    chunk = units if not splittable else max(1, min(units, limit // inits))
    traces: list[PreImageTrace] = []
    start = 0
    while start < units:
        positions = list(range(start, min(units, start + chunk)))
        try:
            traces.append(solve_units(positions))
        except RuntimeError as err:
            if not (splittable and is_out_of_memory(err) and len(positions) > 1):
                raise
            chunk = max(1, len(positions) // 2)
            log.warning(
                "out of memory with %d units x %d images per batch; retrying with %d units",
                len(positions),
                inits,
                chunk,
            )
            continue
        start += len(positions)
        if traces[-1].interrupted:
            break
    return traces, start


class ActivationMax(Method):
    name = "activation_max"
    description = "Maximize a unit (logit, channel, neuron) from noise (M&V Sect. 6)"
    Options = ActivationMaxOptions

    def run(self, ctx: RunContext) -> Result:
        opts = options_of(ctx, ActivationMaxOptions)
        model, target = ctx.model, ctx.target
        inits = opts.num_inits
        units = target.num_units
        use_data = opts.reference_set == "data"
        M = unit_maxima(ctx, target, use_data=use_data).clamp_min(1e-6).to(ctx.device)
        rf = model.receptive_field(target.layer)
        rho = float(opts.rho or (rf.size if rf.spatial else max(model.spec.size)))
        Z = M * rho**2
        weight, diversity = diversity_term(ctx, opts, inits)
        layers = list(
            dict.fromkeys(target.objective.layers + (diversity.layers if diversity else ()))
        )
        regularizers = ctx.regularizers
        settings = engine_settings(ctx, opts, regularizers)
        unit_Cs: list[torch.Tensor | float] = []

        def solve_units(positions: list[int]) -> PreImageTrace:
            """Units ``positions`` (of target.indices) as one batch of units x inits."""
            sub = target if len(positions) == units else sub_target(ctx, target, positions)
            objective, z_units = sub.objective, Z[positions]
            z = z_units.repeat_interleave(inits)
            minus_z = -z  # a / (-z) is -a / z to the bit, forward and backward, in one node
            # C per unit (C=auto: balanced on the photos) for this batch's units only
            C = resolve_C(
                opts.C,
                opts.C_balance,
                lambda balance: unit_C(model, regularizers, objective, z_units, balance),
            )

            def data_loss(feats):  # Eq. (4) with Phi0 = e_i
                loss = objective(feats) / minus_z
                if diversity is not None:  # relative to the normalized activation a / M
                    loss = loss - weight * diversity(feats) / rho**2
                return loss

            c = C.repeat_interleave(inits) if isinstance(C, torch.Tensor) else C
            problem = PreImageProblem(
                data_loss,
                layers,
                None,  # the parameterization's own random start
                C=c,
                stride=rf.stride,
                finetune_iterations=opts.finetune_iterations,
                keys=image_keys([(target.indices or [0])[p] for p in positions], inits),
                batch=len(positions) * inits,
                size=model.spec.size,
            )
            desc = f"activation_max {objective}"
            trace = solve(model, settings, problem, opts.iterations, desc=desc)
            unit_Cs.append(C)
            return trace

        limit = opts.batch_size or fitting_batch(model, layers, units * inits)
        traces, done = run_in_chunks(solve_units, units, inits, limit, chunkable(ctx, target))
        trace = join_traces(traces)
        shown = target if done == units else sub_target(ctx, target, list(range(done)))
        result = self._report(ctx, shown, trace, M[:done], rho, inits, diversity, limit)
        Cs = [torch.as_tensor(c).float().flatten().cpu() for c in unit_Cs]
        fixed = not isinstance(unit_Cs[0], torch.Tensor)
        result.metrics["C"] = Cs[0].tolist() if fixed else torch.cat(Cs).tolist()
        result.metrics["batch_size"] = max(t.x.shape[0] for t in traces)
        result.metrics.update(trace.timing())
        mark_interrupted(result.metrics, trace)
        return result

    def _report(self, ctx, target, trace, M, rho, inits, diversity, chunk) -> Result:
        model = ctx.model
        div_layers = list(diversity.layers) if diversity else []
        feats = evaluate(model, trace.x, list(target.objective.layers) + div_layers, chunk)
        achieved = target.objective(feats).cpu()
        M_rep = M.cpu().repeat_interleave(inits)
        images = to_unit_images(model, trace.x)
        labels = [
            f"{lab} #{k}" if inits > 1 else lab
            for lab in target.unit_labels(model)
            for k in range(inits)
        ]
        metrics = {
            "layer": target.layer,
            "layer_depth": model.depth(target.layer),
            "units": target.indices,
            "achieved_activation": float(achieved.mean()),
            "achieved_activation_per_image": achieved.tolist(),
            "reference_max_activation": M.cpu().tolist(),
            "activation_relative_to_max": float((achieved / M_rep).mean()),
            "Z_rho": rho,
            "jitter_T": ctx.regularizers.jitter(model.receptive_field(target.layer).stride).T,
        }
        if inits > 1:  # how alike one unit's visualizations are (1 = same Gram matrices)
            layer = div_layers[0] if div_layers else target.layer
            if layer not in feats:
                feats.update(evaluate(model, trace.x, [layer], chunk))
            sim = gram_similarity(feats[layer], inits)
            metrics["gram_similarity_layer"] = layer
            metrics["gram_similarity"] = float(sim.mean())
        if OUTPUT in feats and model.num_classes:
            probs = feats[OUTPUT].softmax(-1).cpu()
            if target.kind == "logit":
                idx = torch.as_tensor(target.indices).repeat_interleave(inits)
                p = probs[torch.arange(len(idx)), idx]
                ranks = (probs > p[:, None]).sum(1)
                metrics["target_probability"] = float(p.mean())
                metrics["target_probability_per_image"] = p.tolist()
                metrics["target_rank_per_image"] = (ranks + 1).tolist()
                # SPEC §3 transferability: do the other offline models see the class too?
                metrics.update(transfer_metrics(ctx, images.cpu(), idx.tolist()))
                labels = transfer_labels(labels, p.tolist(), metrics)
            metrics["top5"] = topk_labels(feats[OUTPUT])[0]
        nrow = int(np.ceil(np.sqrt(len(images))))
        extras = {k: v.expand(-1, 3, -1, -1).cpu() for k, v in trace.extras.items()}
        if "alpha" in extras:  # MaCo: the image over white, opaque where it mattered
            alpha = extras["alpha"]
            extras["visualization_alpha"] = images.cpu() * alpha + (1 - alpha)
        return Result(
            images={
                "visualization": grid(images, nrow=nrow),
                **{k: grid(v, nrow=nrow) for k, v in extras.items()},
            },
            metrics=metrics,
            figures={
                "grid_labelled": labelled_grid(
                    images,
                    labels,
                    int(np.ceil(np.sqrt(len(images)))),
                    f"Activation maximization: {target.objective}",
                ),
                "energy": curves(trace.history),
            },
            tensors={"visualization": images.cpu(), **extras},
            history=trace.history,
        )
