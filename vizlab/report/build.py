"""Write the static HTML report of a sweep (or of one run) into ``<folder>/report/``:
``index.html`` (summary plots, the image grid by swept keys, a sortable table of jobs with
thumbnails) and one page per job with all its images and metrics."""

from __future__ import annotations

import html
import time
from pathlib import Path

from PIL import Image

from vizlab.errors import VizlabError
from vizlab.report import html as pages
from vizlab.report.jobs import Job, find_jobs, key_metrics, swept_keys
from vizlab.report.plots import axis_values, safe_name, save_figures, summary_figures

REPORT_DIR = "report"
THUMB_PX = 160
GRID_PX = 240


def _thumbnail(source: Path, target: Path, size: int) -> Path:
    """A small copy of ``source`` (keeps the index light with hundreds of jobs)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(source) as img:
        img.thumbnail((size, size))
        img.save(target)
    return target


def _grids(jobs: list[Job], keys: list[str], out: Path, job_pages, grid_images) -> str:
    """The image grid(s): rows = the first swept key, columns = the second; one grid per
    combination of any further keys."""
    if not keys:
        return ""
    row_key, col_key = keys[0], (keys[1] if len(keys) > 1 else None)
    rest = keys[2:]
    groups: dict[tuple[str, ...], list[Job]] = {}
    for job in jobs:
        groups.setdefault(tuple(job.overrides.get(k, "") for k in rest), []).append(job)
    parts = []
    for combo, members in sorted(groups.items()):
        if rest:
            label = ", ".join(f"{k}={v}" for k, v in zip(rest, combo))
            parts.append(f"<h3>{pages.esc(label)}</h3>")
        parts.append(
            pages.image_grid(
                members,
                row_key,
                col_key,
                axis_values(jobs, row_key),
                axis_values(jobs, col_key) if col_key else [],
                out,
                job_pages,
                grid_images,
            )
        )
    return "<h2>Images by swept keys</h2>" + "".join(parts)


def write_report(folder: Path) -> Path:
    """Write the report of a sweep folder or a run folder; returns its ``index.html``."""
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise VizlabError(
            f"'{folder}' is not a folder. Give `vizlab report` a sweep folder "
            "(outputs/multirun/<date>/<time>_<method>) or a run folder (outputs/<date>/...)."
        )
    jobs = find_jobs(folder)
    if not jobs:
        raise VizlabError(
            f"'{folder}' holds no vizlab run: no metrics.json in it nor in any sub-folder. "
            "Give a sweep folder or a run folder."
        )
    out = folder / REPORT_DIR
    out.mkdir(exist_ok=True)
    keys = swept_keys(jobs)
    metrics = key_metrics(jobs)
    index = out / "index.html"
    stems = {job.name: f"{i:03d}_{safe_name(job.name)[:60]}" for i, job in enumerate(jobs)}
    job_pages = {job.name: out / "jobs" / f"{stems[job.name]}.html" for job in jobs}
    thumbs, grid_images = {}, {}
    for job in jobs:
        if job.thumbnail is not None:
            stem = stems[job.name]
            thumbs[job.name] = _thumbnail(job.thumbnail, out / "thumbs" / f"{stem}.png", THUMB_PX)
            grid_images[job.name] = _thumbnail(
                job.thumbnail, out / "thumbs" / f"{stem}_grid.png", GRID_PX
            )
    figures = summary_figures([j for j in jobs if j.metrics], keys, metrics)
    plots = save_figures(figures, out / "plots")
    plots += sorted(p for p in folder.glob("*.png"))  # the sweep's own summary plots
    for job in jobs:
        path = job_pages[job.name]
        path.parent.mkdir(exist_ok=True)
        path.write_text(pages.job_page(job, path.parent, index, keys))

    counts: dict[str, int] = {}
    for job in jobs:
        counts[job.status] = counts.get(job.status, 0) + 1
    status = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    body = [
        f"<h1>{html.escape(folder.name)}</h1>",
        f"<p class='meta'>{len(jobs)} job(s): {status}. Swept: "
        f"{html.escape(', '.join(keys) or 'nothing')}. Written "
        f"{time.strftime('%Y-%m-%d %H:%M:%S')}; rebuild with "
        f"<code>vizlab report {html.escape(str(folder))}</code>.</p>",
    ]
    if plots:
        imgs = "".join(
            f"<a href='{pages.href(p, out)}'><img src='{pages.href(p, out)}' "
            f"alt='{html.escape(p.stem)}'></a>"
            for p in plots
        )
        body.append(f"<h2>Summary plots</h2><div class='plots'>{imgs}</div>")
    if len(jobs) > 1:
        body.append(_grids(jobs, keys, out, job_pages, grid_images))
    body.append("<h2>Jobs</h2><p class='meta'>Click a column header to sort.</p>")
    body.append(pages.jobs_table(jobs, keys, metrics, out, job_pages, thumbs))
    index.write_text(pages.page(folder.name, "".join(body), script=True))
    return index


def write_sweep_report(sweep_dir: Path) -> Path:
    """The report of a finished (or interrupted) sweep: ``<sweep_dir>/report/index.html``."""
    return write_report(sweep_dir)
