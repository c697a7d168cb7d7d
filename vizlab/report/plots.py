"""Summary plots of a sweep for any method: each key metric against each swept key, one line
per value of another swept key (means over the remaining ones), as matplotlib Figures."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from matplotlib.figure import Figure

from vizlab.report.jobs import Job, is_number, sort_value


def axis_values(jobs: list[Job], key: str) -> list[str]:
    values = {job.overrides.get(key, "") for job in jobs}
    return sorted(values, key=lambda v: (isinstance(sort_value(v), str), sort_value(v)))


def metric_against_key(
    jobs: list[Job], key: str, metrics: list[str], line_key: str | None = None
) -> Figure:
    """One panel per metric: the metric against the values of ``key`` (categorical axis),
    a line per value of ``line_key``, each point the mean over the jobs it covers."""
    xs = axis_values(jobs, key)
    lines = axis_values(jobs, line_key) if line_key else [""]
    fig = Figure(figsize=(4.2 * len(metrics), 3.4), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics):
        for line in lines:
            points: dict[int, list[float]] = defaultdict(list)
            for job in jobs:
                value = job.metrics.get(metric)
                if not is_number(value) or (line_key and job.overrides.get(line_key) != line):
                    continue
                points[xs.index(job.overrides.get(key, ""))].append(float(value))
            if not points:
                continue
            order = sorted(points)
            means = [sum(points[i]) / len(points[i]) for i in order]
            label = f"{line_key}={line}" if line_key else None
            ax.plot(order, means, marker="o", label=label)
        ax.set_xticks(range(len(xs)), xs, rotation=30 if len(xs) > 4 else 0, fontsize=8)
        ax.set_xlabel(key)
        ax.set_title(metric, fontsize=9)
        ax.grid(alpha=0.3)
        if line_key and ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.suptitle(f"metrics by {key}", fontsize=10)
    return fig


def summary_figures(jobs: list[Job], keys: list[str], metrics: list[str]) -> dict[str, Figure]:
    """``{"by_<key>": Figure}`` for each swept key (at most four metrics per figure)."""
    if not metrics:
        return {}
    figures = {}
    for key in keys:
        others = [k for k in keys if k != key]
        figures[f"by_{key}"] = metric_against_key(
            jobs, key, metrics[:4], others[0] if others else None
        )
    return figures


def save_figures(figures: dict[str, Figure], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, figure in figures.items():
        path = folder / f"{safe_name(name)}.png"
        figure.savefig(path, dpi=100)
        paths.append(path)
    return paths


def safe_name(text: str) -> str:
    """A file name made of the text's letters, digits, dots, dashes and underscores."""
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in text)
    return cleaned[:120] or "_"
