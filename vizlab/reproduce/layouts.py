"""How each reproduced figure is drawn and tabulated from its jobs (papers' layouts)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from matplotlib.figure import Figure

from vizlab.analysis.unit_boxes import unit_geometry
from vizlab.models.wrapper import VisionModel
from vizlab.reproduce.figures import layer_curves, tile_figure
from vizlab.reproduce.jobs import Job
from vizlab.reproduce.naming import class_name, model_label, photo_names, unit_indices
from vizlab.reproduce.rescore import TOP5


@dataclass
class Rendering:
    figures: dict[str, Figure] = field(default_factory=dict)
    markdown: str = ""


Layout = Callable[[list[Job], str], Rendering]


def _axis_values(jobs: Sequence[Job], key: str) -> list[str]:
    seen: list[str] = []
    for job in jobs:
        value = job.axis(key)
        if value not in seen:
            seen.append(value)
    return seen


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _pct(value: float | None, ci: float | None = None) -> str:
    if value is None:
        return "–"
    return f"{value:.1f} ± {ci:.1f}" if ci is not None else f"{value:.1f}"


def _inits(job: Job) -> int:
    """Random starts per image or unit: the metrics' count, else the job's method config
    (activation maximization does not log it)."""
    if "num_inits" in job.metrics:
        return int(job.metrics["num_inits"])
    method = job.config.method if job.config is not None else {}
    return int(method.get("num_inits") or 1)


def _first(job: Job, key: str, i: int = 0):
    return job.tensors[key][i]


# --- Mahendran & Vedaldi ------------------------------------------------------------------


def fig3_tv_beta(jobs: list[Job], paper: str) -> Rendering:
    photo = photo_names(jobs[0])[0]
    cols = ["reference"] + [f"β = {j.axis('regularizers.tv.beta')}" for j in jobs]
    tiles = {(photo, "reference"): _first(jobs[0], "reference")}
    captions = {}
    for job, col in zip(jobs, cols[1:]):
        tiles[photo, col] = _first(job, "preimage")
        captions[photo, col] = f"err {job.metrics['reconstruction_error']:.1f}%"
    layer = jobs[0].metrics.get("layer", "")
    fig = tile_figure([photo], cols, tiles, f"TV^β prior, inversion of {layer}", captions)
    rows = [
        [
            j.axis("regularizers.tv.beta"),
            _pct(j.metrics["reconstruction_error"]),
            f"{j.metrics['naturalness_hist_intersection']:.3f}",
        ]
        for j in jobs
    ]
    text = _table(["β", "reconstruction error %", "gradient-histogram intersection"], rows)
    note = (
        "\n\nThe paper shows this figure qualitatively (spikes at β = 1, removed at "
        "β = 1.5 and 2) and gives no numbers."
    )
    return Rendering({"tiles": fig}, text + note)


def _C(job: Job) -> str:
    """The job's C: its sweep value, else the C it ran with (``--set method.C=300``)."""
    return job.axis("method.C") or f"{float(job.metrics.get('C', 0)):g}"


def _by_layer_and_C(jobs: list[Job]) -> tuple[list[str], list[str], dict]:
    layers = _axis_values(jobs, "target.layer")
    cs = sorted({_C(j) for j in jobs}, key=lambda c: -float(c))
    cell = {(j.axis("target.layer"), _C(j)): j for j in jobs}
    return layers, cs, cell


def _series(layers, cs, cell, key: str, scale: float = 1.0):
    return {
        f"C = {c}": [
            cell[layer, c].metrics.get(key) * scale if (layer, c) in cell else None
            for layer in layers
        ]
        for c in cs
    }


def fig6_inversion_quality(jobs: list[Job], paper: str) -> Rendering:
    layers, cs, cell = _by_layer_and_C(jobs)
    curves = layer_curves(
        layers,
        [
            (
                "reconstruction error %",
                _series(layers, cs, cell, "reconstruction_error"),
                _series(layers, cs, cell, "reconstruction_error_ci95"),
            ),
            (
                "std over random starts (points)",
                _series(layers, cs, cell, "reconstruction_error_std_inits"),
                None,
            ),
            (
                "classification consistency",
                _series(layers, cs, cell, "classification_consistency"),
                None,
            ),
        ],
        "Fig. 6: error, std over starts, classification consistency by layer",
    )
    any_job = jobs[0]
    photo = photo_names(any_job)[0]
    inits = _inits(any_job)
    tiles, captions = {}, {}
    for layer in layers:
        tiles[layer, "reference"] = _first(any_job, "reference")
        for c in cs:
            if (layer, c) in cell:
                job = cell[layer, c]
                tiles[layer, f"C = {c}"] = _first(job, "preimage")
                err = job.metrics["reconstruction_error_per_image"][0]
                captions[layer, f"C = {c}"] = f"err {err:.1f}%"
    grid = tile_figure(
        layers,
        ["reference"] + [f"C = {c}" for c in cs],
        tiles,
        f"Pre-images of {photo} (first of {inits} starts) by layer and C",
        captions,
    )
    top5 = any(TOP5 in j.metrics for j in jobs)
    rows = []
    for layer in layers:
        for c in cs:
            if (layer, c) not in cell:  # not run: listed under the grid line of the page
                continue
            m = cell[layer, c].metrics
            row = [
                layer,
                c,
                _protocol(cell[layer, c]),
                _pct(m["reconstruction_error"], m["reconstruction_error_ci95"]),
                f"{m['reconstruction_error_std_inits']:.2f}",
                f"{m.get('classification_consistency', float('nan')):.2f}",
            ]
            rows.append(row + ([f"{m.get(TOP5, float('nan')):.2f}"] if top5 else []))
    header = [
        "layer",
        "C",
        "size, iterations",
        "error % (95 % CI over photos)",
        "std over starts",
        "consistency (top-1 = reference's top-1)",
    ]
    table = _table(header + (["top-1 in the reference's top 5"] if top5 else []), rows)
    return Rendering(
        {"curves": curves, "tiles": grid},
        table + _reference_confidence(jobs) + "\n\n" + fig6_verdict(layers, cs, cell),
    )


def _reference_confidence(jobs: list[Job]) -> str:
    """How sure the network is of the references' top-1 (rescore.add_top5_consistency)."""
    by_size: dict[str, tuple[float, float]] = {}
    for job in jobs:
        if "reference_top1_probability" in job.metrics:
            size = job.config.data.get("size") if job.config is not None else None
            m = job.metrics
            by_size[f"{size} px" if size else "the model's size"] = (
                m["reference_top1_probability"],
                m["reference_top1_margin"],
            )
    parts = [
        f"{size}: mean top-1 probability {p:.2f}, median margin to the second class {g:.2f}"
        for size, (p, g) in by_size.items()
    ]
    if not parts:
        return ""
    return (
        "\n\nThe last column and these numbers are scored again from the cached pre-images "
        "(float16) under the same model and size (`vizlab/reproduce/rescore.py`). How sure "
        "the network is of the references' top-1 class: " + "; ".join(parts) + "."
    )


def _protocol(job: Job) -> str:
    """Image size and iterations + fine-tuning iterations of one cell: cells of one figure
    may have been run at different protocols, and the table must say which."""
    if job.config is None:
        return "?"
    method, size = job.config.method, job.config.data.get("size")
    iterations = f"{method.get('iterations', '?')}+{method.get('finetune_iterations', 0)}"
    return f"{f'{size} px' if size else 'model size'}, {iterations}"


def fig6_verdict(layers, cs, cell) -> str:
    """The paper's pattern (Sect. 5.2.2, AlexNet): at each layer's best C the error stays in
    10-20 %, consistency above 0.8, std over starts about 2 points or less for C != 1."""
    rows = []
    for layer in layers:
        done = [c for c in cs if (layer, c) in cell]
        if not done:
            continue
        best = min(done, key=lambda c: cell[layer, c].metrics["reconstruction_error"])
        m = cell[layer, best].metrics
        err, cons = m["reconstruction_error"], m.get("classification_consistency", 0.0)
        stds = [
            cell[layer, c].metrics["reconstruction_error_std_inits"] for c in done if float(c) >= 20
        ]
        std_max = max(stds) if stds else float("nan")
        ok = err <= 20 and cons >= 0.8 and (not stds or std_max <= 2)
        rows.append(
            [layer, best, f"{err:.1f}", f"{cons:.2f}", f"{std_max:.2f}", "yes" if ok else "**no**"]
        )
    header = [
        "layer",
        "best C (of those run)",
        "error %",
        "consistency",
        "max std, C ≥ 20",
        "paper's pattern",
    ]
    return (
        "Paper's pattern per layer (error ≤ 20 % at the best C, consistency ≥ 0.8, std over "
        "starts ≤ 2 points for C ≥ 20):\n\n" + _table(header, rows)
    )


def fig7_naturalness(jobs: list[Job], paper: str) -> Rendering:
    layers, cs, cell = _by_layer_and_C(jobs)
    curves = layer_curves(
        layers,
        [
            (
                "gradient-histogram intersection",
                _series(layers, cs, cell, "naturalness_hist_intersection"),
                None,
            )
        ],
        "Fig. 7: naturalness of the pre-images by layer and C",
    )
    rows = [
        [layer]
        + [
            f"{cell[layer, c].metrics['naturalness_hist_intersection']:.3f}"
            if (layer, c) in cell
            else "–"
            for c in cs
        ]
        for layer in layers
    ]
    return Rendering({"curves": curves}, _table(["layer"] + [f"C = {c}" for c in cs], rows))


TABLE2_PAPER = {"hog": (36.6, 3.4), "hogb": (11.6, 0.9), "dsift": (9.4, 1.7)}
DESCRIPTOR_NAMES = {"hog": "HOG", "hogb": "HOGb", "dsift": "DSIFT"}


def table2_descriptors(jobs: list[Job], paper: str) -> Rendering:
    rows, tiles, captions = [], {}, {}
    photos = photo_names(jobs[0])[:3]
    cols = ["reference"] + [DESCRIPTOR_NAMES.get(j.axis("model"), j.axis("model")) for j in jobs]
    for job, col in zip(jobs, cols[1:]):
        m = job.metrics
        ref = TABLE2_PAPER.get(job.axis("model"))
        rows.append(
            [
                col,
                f"{ref[0]} ± {ref[1]}" if ref else "–",
                _pct(m["reconstruction_error"], m["reconstruction_error_ci95"]),
            ]
        )
        for i, photo in enumerate(photos):
            tiles[photo, "reference"] = _first(job, "reference", i)
            tiles[photo, col] = _first(job, "preimage", i)
            captions[photo, col] = f"err {m['reconstruction_error_per_image'][i]:.1f}%"
    fig = tile_figure(photos, cols, tiles, "Table 2: pre-images of HOG, HOGb and DSIFT", captions)
    text = _table(
        ["representation", "paper (100 ILSVRC val images)", "vizlab (these photos)"], rows
    )
    return Rendering({"tiles": fig}, text)


def layers_by_model(jobs: list[Job], paper: str) -> Rendering:
    models = _axis_values(jobs, "model")
    layers = _axis_values(jobs, "target.layer")
    tiles, captions, rows = {}, {}, []
    labels = {m: model_label(m, paper) for m in models}
    for job in jobs:
        row, layer = labels[job.axis("model")], job.axis("target.layer")
        tiles[row, "reference"] = _first(job, "reference")
        tiles[row, layer] = _first(job, "preimage")
        err = job.metrics["reconstruction_error"]
        captions[row, layer] = f"err {err:.1f}%"
    for model in models:
        cells = {j.axis("target.layer"): j for j in jobs if j.axis("model") == model}
        rows.append(
            [labels[model]]
            + [
                _pct(cells[l].metrics["reconstruction_error"]) if l in cells else "–"
                for l in layers
            ]
        )
    photo = photo_names(jobs[0])[0]
    fig = tile_figure(
        [labels[m] for m in models],
        ["reference"] + layers,
        tiles,
        f"Figs. 9-11: inversions of {photo} from every depth",
        captions,
    )
    return Rendering(
        {"tiles": fig}, "Reconstruction error %:\n\n" + _table(["model"] + layers, rows)
    )


def starts_by_photo(jobs: list[Job], paper: str) -> Rendering:
    tiles, rows, names = {}, [], []
    for job in jobs:
        inits = _inits(job)
        layer = job.axis("target.layer") or job.metrics.get("layer", "")
        for i, photo in enumerate(photo_names(job)):
            row = f"{photo}, {layer}"
            names.append(row)
            tiles[row, "reference"] = _first(job, "reference", i)
            for k in range(inits):
                tiles[row, f"start {k + 1}"] = _first(job, "preimage", i * inits + k)
        rows.append(
            [
                layer,
                _pct(job.metrics["reconstruction_error"]),
                f"{job.metrics['reconstruction_error_std_inits']:.2f}",
            ]
        )
    inits = _inits(jobs[0])
    cols = ["reference"] + [f"start {k + 1}" for k in range(inits)]
    fig = tile_figure(names, cols, tiles, "Fig. 12: pre-images from different random starts")
    return Rendering({"tiles": fig}, _table(["layer", "error %", "std over starts"], rows))


def one_row_by_axis(key: str, label: Callable[[str], str], title: str) -> Layout:
    """Reference then one pre-image per value of ``key`` (Figs. 13 and 14)."""

    def render(jobs: list[Job], paper: str) -> Rendering:
        photo = photo_names(jobs[0])[0]
        cols = ["reference"] + [label(j.axis(key)) for j in jobs]
        tiles = {(photo, "reference"): _first(jobs[0], "reference")}
        captions = {}
        rows = []
        for job, col in zip(jobs, cols[1:]):
            tiles[photo, col] = _first(job, "preimage")
            err = job.metrics["reconstruction_error"]
            captions[photo, col] = f"err {err:.1f}%"
            rows.append([col, _pct(err)])
        fig = tile_figure([photo], cols, tiles, title, captions)
        return Rendering({"tiles": fig}, _table(["mask", "error % (inside the mask)"], rows))

    return render


@dataclass(frozen=True)
class FieldWindow:
    """Where one unit's receptive field lies in its image: M&V show each activation-maximizing
    image over the unit's field, rho pixels wide (Sect. 6.2, Table 1; Figs. 16-18)."""

    box: tuple[int, int, int, int]  # top, left, bottom, right (exclusive), clipped to the image
    size: int  # the field size rho in pixels, also where it exceeds the image
    image: tuple[int, int]
    # rho is only a lower bound when the field outgrew the largest probe image it was
    # measured on (``vizlab.models.receptive_field.measure``)
    at_least: bool = False

    @property
    def whole_image(self) -> bool:
        return self.box == (0, 0, *self.image)

    @property
    def clipped(self) -> bool:
        top, left, bottom, right = self.box
        return min(bottom - top, right - left) < self.size

    @property
    def label(self) -> str:
        """'59 px field', with ', whole image' or ', clipped' where the image cuts it, and
        '≥ 520 px field' where the size is a lower bound."""
        cut = ", whole image" if self.whole_image else ", clipped" if self.clipped else ""
        bound = "≥ " if self.at_least else ""
        return f"{bound}{self.size} px field{cut}"


def receptive_field_window(
    model: VisionModel, layer: str, position: Sequence[int] | None = None
) -> FieldWindow:
    """The receptive field of the unit of ``layer`` at ``position`` (default: the centre of
    the feature map, as ``target=neuron`` picks it) in the model's working image, clipped to
    the image, from the same geometry as the unit's rho (``VisionModel.receptive_field``)."""
    hw = model.spec.size
    h, w = model.output_shapes([layer])[layer][-2:]
    y, x = tuple(position) if position is not None else ((h - 1) // 2, (w - 1) // 2)
    geometry = unit_geometry(model, layer, hw)
    at_least = model.receptive_field(layer).clipped
    return FieldWindow(geometry.box(int(y), int(x), hw), geometry.size, hw, at_least)


def crop_to_field(tile: torch.Tensor, window: FieldWindow) -> torch.Tensor:
    """The part of a C x H x W image inside the unit's receptive field (the whole image when
    the field covers it, as for M&V's deep layers, whose fields exceed the image: Table 1)."""
    top, left, bottom, right = window.box
    return tile[..., top:bottom, left:right]


def neuron_window(job: Job) -> FieldWindow | None:
    """The receptive-field window of a job that maximized one neuron of a CNN feature map
    (M&V Sect. 6.2: Phi0 = e_i, one component); None for channels, logits, ViT tokens and
    jobs without a config, whose visualizations fill the whole image."""
    cfg = job.config
    if cfg is None or cfg.target.get("kind") != "neuron" or "visualization" not in job.tensors:
        return None
    from vizlab.runner import load_model  # builds the network: only for neuron jobs

    hw = tuple(int(s) for s in job.tensors["visualization"].shape[-2:])
    model = load_model(cfg, torch.device("cpu")).with_input_size(hw)
    shape = model.output_shapes([cfg.target.layer]).get(cfg.target.layer, ())
    if model.is_vit or len(shape) != 4:
        return None
    return receptive_field_window(model, cfg.target.layer, cfg.target.get("position"))


def units_grid(
    row_keys: Sequence[str],
    title: str,
    col: Callable[[int], str],
    row_label: Callable[[str], str] = str,
    split: Mapping[str, str] | None = None,
) -> Layout:
    """Activation maximization: one row per value of ``row_keys`` (the model when it is the
    only one), one column per unit, named as the paper names them. ``split`` maps a model to
    the paper's figure of its own (M&V Fig. 16 is VGG-M, Fig. 17 VGG-VD): one figure each."""

    def row_name(job: Job, paper: str) -> str:
        parts = []
        for key in row_keys:
            value = job.axis(key)
            if key == "model":
                parts.append(model_label(value or str(job.metrics.get("model", "")), paper))
            elif value:
                parts.append(row_label(value))
        return ", ".join(p for p in parts if p) or row_label(str(job.metrics.get("layer", "")))

    def group_of(job: Job) -> str:  # the model whose figure the job belongs to, or ""
        return job.axis("model") if split else ""

    def tiles_of(jobs: list[Job], paper: str, windows: dict) -> tuple[list[str], list[str], dict]:
        tiles, names, cols = {}, [], []
        for job in jobs:
            window = windows[id(job)]
            row = row_name(job, paper) + (f", {window.label}" if window else "")
            names.append(row)
            inits = _inits(job)
            for u, unit in enumerate(unit_indices(job)):
                for k in range(inits):
                    name = col(unit) + (f", start {k + 1}" if inits > 1 else "")
                    if name not in cols:
                        cols.append(name)
                    tile = _first(job, "visualization", u * inits + k)
                    tiles[row, name] = crop_to_field(tile, window) if window else tile
        return names, cols, tiles

    def render(jobs: list[Job], paper: str) -> Rendering:
        groups: dict[str, list[Job]] = {}
        for job in jobs:
            groups.setdefault(group_of(job), []).append(job)
        windows = {id(job): neuron_window(job) for job in jobs}  # neurons: their field only
        figures = {}
        for key, members in groups.items():
            names, cols, tiles = tiles_of(members, paper, windows)
            heading = f"{split.get(key, key)}: {title}" if split and key else title
            figures[f"tiles_{key}" if key else "tiles"] = tile_figure(names, cols, tiles, heading)
        rows = []
        for job in jobs:
            m = job.metrics
            cells = [
                ", ".join(
                    p for p in (model_label(group_of(job), paper), row_name(job, paper)) if p
                ),
                f"{m.get('activation_relative_to_max', float('nan')):.3g}",
            ]
            if "target_probability" in m:
                cells.append(f"{m['target_probability']:.2f}")
            if "transfer_top1_rate" in m:
                cells.append(f"{m['transfer_top1_rate']:.2f}")
            if any(windows.values()):
                window = windows[id(job)]
                cells.append(window.label if window else "–")
            rows.append(cells)
        header = ["row", "activation / its maximum over the reference photos (mean)"]
        if any("target_probability" in j.metrics for j in jobs):
            header.append("target probability (mean)")
        if any("transfer_top1_rate" in j.metrics for j in jobs):
            header.append("target top-1 on the other Lite models (transfer)")
        if any(windows.values()):
            header.append("tiles show the receptive field")
        return Rendering(figures, _table(header, rows))

    return render


def units_by_start(jobs: list[Job], paper: str) -> Rendering:
    job = jobs[0]
    inits = _inits(job)
    units = unit_indices(job)
    layer = job.metrics.get("layer") or (job.config.target.layer if job.config is not None else "")
    kind = job.config.target.get("kind", "channel") if job.config is not None else "channel"
    window = neuron_window(job)  # a neuron: show its receptive field, as Fig. 16
    tiles = {}
    rows = [f"{layer} {kind} {u}" + (f", {window.label}" if window else "") for u in units]
    cols = [f"start {k + 1}" for k in range(inits)]
    for u, row in enumerate(rows):
        for k, col in enumerate(cols):
            tile = _first(job, "visualization", u * inits + k)
            tiles[row, col] = crop_to_field(tile, window) if window else tile
    fig = tile_figure(rows, cols, tiles, "Fig. 18: activation maximization from different starts")
    sim = job.metrics.get("gram_similarity")
    text = f"Gram-matrix similarity of one unit's starts: {sim:.3f}" if sim is not None else ""
    return Rendering({"tiles": fig}, text)


def caricatures(jobs: list[Job], paper: str) -> Rendering:
    layers = _axis_values(jobs, "target.layer")
    photos = photo_names(jobs[0])
    tiles, rows = {}, []
    for job in jobs:
        layer = job.axis("target.layer")
        for i, photo in enumerate(photos):
            tiles[photo, "reference"] = _first(job, "reference", i)
            tiles[photo, layer] = _first(job, "caricature", i)
        m = job.metrics
        rows.append(
            [layer, f"{m['inner_product_ratio_before']:.2f}", f"{m['inner_product_ratio']:.2f}"]
        )
    fig = tile_figure(photos, ["reference"] + layers, tiles, "Figs. 20-21: caricatures by layer")
    header = ["layer", "<Phi(x), Phi0>/Z at the photo", "after caricaturization"]
    return Rendering({"tiles": fig}, _table(header, rows))


# --- the AM paper ------------------------------------------------------------------------


def am_adversarial(jobs: list[Job], paper: str) -> Rendering:
    job = jobs[0]
    m = job.metrics
    targets = [int(t) for t in m["target_classes"]]
    photos = photo_names(job)[:3]
    k = len(targets)
    tiles, captions, cols = {}, {}, ["original"]
    for t in targets:
        cols += [f"δ ×10 → {class_name(t)}", f"→ {class_name(t)}"]
    for i, photo in enumerate(photos):
        tiles[photo, "original"] = job.tensors["original"][i * k]
        for j, t in enumerate(targets):
            r = i * k + j
            delta = job.tensors["perturbation"][r]
            tiles[photo, f"δ ×10 → {class_name(t)}"] = (0.5 + 10 * delta).clamp(0, 1)
            tiles[photo, f"→ {class_name(t)}"] = job.tensors["adversarial"][r]
            ok = m.get(f"{photo}_to_{t}_success")
            captions[photo, f"→ {class_name(t)}"] = "reached" if ok else "not reached"
    fig = tile_figure(photos, cols, tiles, "Fig. 9: AM adversarial examples", captions)
    settings = _table(
        ["model", "ε", "step", "λ", "steps", "success rate"],
        [
            ["ResNet50V2 (paper)", 0.01, 0.01, "1e-4", 30, "not given"],
            ["ViT-B/16 (paper)", 0.05, 0.01, "1e-4", 30, "not given"],
            [
                f"{model_label(str(m.get('model', '')), paper)} (vizlab)",
                m.get("eps"),
                m.get("step_size"),
                m.get("tv_weight"),
                m.get("steps"),
                f"{m['success_rate']:.2f} ({m['num_attacks']} attacks)",
            ],
        ],
    )
    per_target = _table(
        ["target class", "success rate"],
        [[class_name(t), f"{m.get(f'success_rate_{t}', float('nan')):.2f}"] for t in targets],
    )
    norms = (
        f"Mean L∞ {m['linf_mean']:.4f}, mean L2 {m.get('l2_mean', float('nan')):.2f}; target rank "
        f"{m['target_rank_before_mean']:.0f} → {m['target_rank_mean']:.1f} on average."
    )
    text = "\n\n".join(t for t in (settings, per_target, norms, transfer_sentence(m, paper)) if t)
    return Rendering({"tiles": fig}, text)


def transfer_sentence(metrics: dict, paper: str) -> str:
    """How often other models (``method.transfer_models``) also give the target class top-1:
    whether the images carry the class or only one network's quirks."""
    rates = [
        (key.removeprefix("transfer_").removesuffix("_top1_rate"), value)
        for key, value in metrics.items()
        if key.startswith("transfer_") and key.endswith("_top1_rate") and key.count("_") > 2
    ]
    if not rates:
        return ""
    parts = [f"{model_label(name, paper)} {value:.2f}" for name, value in rates]
    return "Target class top-1 on the other models (transfer): " + ", ".join(parts) + "."
