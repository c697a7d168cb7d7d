"""Sweep summary: when a Hydra multirun ends, collect every job's ``metrics.json`` into
``sweep_summary.csv``/``.json`` and plot reconstruction error against layer depth, one line per
C, with 95% intervals (the form of Mahendran & Vedaldi's Fig. 6, left); a sweep over models at
one layer (Table 2: HOG, HOGb, DSIFT) is plotted against the model instead."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


def collect(sweep_dir: Path) -> list[dict[str, Any]]:
    rows = []
    for metrics_file in sorted(sweep_dir.glob("*/metrics.json")):
        row = {"job": metrics_file.parent.name}
        row.update(json.loads(metrics_file.read_text()))
        rows.append(row)
    return rows


def write_summary(sweep_dir: Path) -> list[Path]:
    """Write the CSV, JSON and (for inversion sweeps) the error-vs-layer plot."""
    rows = collect(sweep_dir)
    if not rows:
        return []
    written = []
    json_path = sweep_dir / "sweep_summary.json"
    json_path.write_text(json.dumps(rows, indent=2))
    written.append(json_path)
    scalar_keys = sorted(
        {k for r in rows for k, v in r.items() if isinstance(v, (int, float, str, bool))}
    )
    csv_path = sweep_dir / "sweep_summary.csv"
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=scalar_keys, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    written.append(csv_path)
    if any("reconstruction_error" in r for r in rows):
        written += _plot_fig6(rows, sweep_dir)
    return written


def _plot_fig6(rows: list[dict[str, Any]], sweep_dir: Path) -> list[Path]:
    from vizlab.plotting import plt

    layers = {r["layer"]: r.get("layer_depth", 0) for r in rows if "layer" in r}
    models = sorted({str(r.get("model", "")) for r in rows})
    # x: the layers (Fig. 6); a one-layer sweep over models (Table 2) puts the models there
    by_model_x = len(layers) <= 1 and len(models) > 1
    order = models if by_model_x else sorted(layers, key=layers.get)
    x_of = (lambda r: str(r.get("model", ""))) if by_model_x else (lambda r: r["layer"])
    panels = [
        ("reconstruction_error", "reconstruction error (%)"),
        ("reconstruction_error_std_inits", "std over initializations (%)"),
        ("classification_consistency", "classification consistency"),
    ]
    several_inits = any(int(r.get("num_inits", 1) or 1) > 1 for r in rows)
    panels = [
        p
        for p in panels
        if any(p[0] in r for r in rows) and (several_inits or p[0] != panels[1][0])
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.8), squeeze=False)
    lines: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:  # one line per C (and per model when several models share the layer axis)
        model = "" if by_model_x or len(models) == 1 else str(r.get("model", ""))
        lines[(model, r.get("C", 0.0))].append(r)
    for ax, (key, label) in zip(axes[0], panels):
        for (model, c), group in sorted(lines.items()):
            pts = sorted(
                (order.index(x_of(r)), r.get(key), r.get(f"{key}_ci95", 0.0) or 0.0)
                for r in group
                if r.get(key) is not None
            )
            if pts:
                xs, ys, es = zip(*pts)
                name = f"{model} C={c:g}" if model else f"C={c:g}"
                ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=name)
        ax.set_xticks(range(len(order)), order, rotation=45, ha="right", fontsize=8)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axis = "model" if by_model_x else "layer"
    fig.suptitle(f"Inversion quality by {axis} ({sweep_dir.name})", fontsize=10)
    fig.tight_layout()
    path = sweep_dir / "reconstruction_error_by_layer.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


class SweepSummary(Callback):
    """Hydra callback (see conf/config.yaml: hydra.callbacks)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        written = write_summary(sweep_dir)
        if written:
            print(f"[vizlab] sweep summary: {', '.join(str(p) for p in written)}", flush=True)
