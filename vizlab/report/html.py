"""The report's HTML pages: plain strings from the standard library's ``html.escape``, with
relative links only, one small inline style sheet and a few lines of inline JavaScript for
sorting -- no template engine, CDN or network, so the pages open from ``file://`` anywhere."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from urllib.parse import quote

from vizlab.report.jobs import Job, is_number, is_scalar

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.6em}
.meta{color:#666;font-size:.9em}
table{border-collapse:collapse;font-size:.85em}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:middle}
th{background:#f3f3f3;position:sticky;top:0}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th:hover{background:#e6e6e6}
th.asc::after{content:" \\25B2"}th.desc::after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.failed td{background:#fde8e8}tr.missing td,tr.interrupted td{background:#fff6dd}
img.thumb{height:72px;width:auto;max-width:160px;display:block}
table.grid td{text-align:center;font-size:.8em}
table.grid img{width:200px;height:auto;display:block;margin:auto;image-rendering:pixelated}
.plots img{display:inline-block}
.plots img{max-width:100%;border:1px solid #eee;margin:4px 0}
.images figure{display:inline-block;margin:6px;vertical-align:top}
.images img{max-width:560px;min-width:220px;border:1px solid #eee}
figcaption{font-size:.8em;color:#555}
"""

SORT_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var asc = !th.classList.contains("asc");
      table.querySelectorAll("th").forEach(function (h) { h.classList.remove("asc", "desc"); });
      th.classList.add(asc ? "asc" : "desc");
      var body = table.tBodies[0], rows = Array.from(body.rows);
      function key(row) {
        var cell = row.cells[col], v = cell.getAttribute("data-sort") || cell.textContent.trim();
        var n = parseFloat(v);
        return isNaN(n) || !/^-?[0-9.]/.test(v) ? [1, v.toLowerCase()] : [0, n];
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        var c = x[0] - y[0] || (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0);
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def href(target: Path, page_dir: Path) -> str:
    """A relative, URL-quoted link from a page in ``page_dir`` to ``target``."""
    rel = os.path.relpath(target, page_dir).replace(os.sep, "/")
    return quote(rel)


def short_label(job: Job, keys: list[str]) -> str:
    """The swept values of a job (``target.index=0, param=fourier``), else its folder name
    (cut to 48 characters; the full name is the link's tooltip)."""
    if keys:
        return ", ".join(f"{k}={job.overrides.get(k, '')}" for k in keys)
    return job.name if len(job.name) <= 48 else job.name[:45] + "..."


def fmt(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def page(title: str, body: str, script: bool = False) -> str:
    js = f"<script>{SORT_SCRIPT}</script>" if script else ""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body}{js}</body></html>\n"
    )


def jobs_table(
    jobs: list[Job],
    keys: list[str],
    metrics: list[str],
    page_dir: Path,
    job_pages: dict[str, Path],
    thumbs: dict[str, Path],
) -> str:
    head = ["#", "image", "job", "status", *keys, *metrics]
    rows = []
    for i, job in enumerate(jobs):
        thumb = thumbs.get(job.name)
        link = href(job_pages[job.name], page_dir)
        img = (
            f"<a href='{link}'><img class='thumb' src='{href(thumb, page_dir)}' "
            f"alt='{esc(job.name)}' loading='lazy'></a>"
            if thumb
            else ""
        )
        cells = [
            f"<td class='num'>{i}</td>",
            f"<td>{img}</td>",
            f"<td><a href='{link}' title='{esc(job.name)}'>{esc(short_label(job, keys))}</a></td>",
            f"<td title='{esc(job.error or '')}'>{esc(job.status)}</td>",
        ]
        cells += [f"<td>{esc(job.overrides.get(k, ''))}</td>" for k in keys]
        for m in metrics:
            v = job.metrics.get(m)
            num = " class='num'" if is_number(v) else ""
            sort = f" data-sort='{esc(v)}'" if is_number(v) else ""
            cells.append(f"<td{num}{sort}>{esc(fmt(v)) if v is not None else ''}</td>")
        rows.append(f"<tr class='{esc(job.status)}'>{''.join(cells)}</tr>")
    header = "".join(f"<th>{esc(h)}</th>" for h in head)
    return (
        f"<table class='sortable' id='jobs'><thead><tr>{header}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def image_grid(
    jobs: list[Job],
    row_key: str,
    col_key: str | None,
    row_values: list[str],
    col_values: list[str],
    page_dir: Path,
    job_pages: dict[str, Path],
    images: dict[str, Path],
) -> str:
    """A table of thumbnails: one row per value of ``row_key``, one column per value of
    ``col_key`` (a single column when there is none)."""
    cols = col_values if col_key else [""]
    header = f"<th>{esc(row_key)} \\ {esc(col_key)}</th>" if col_key else f"<th>{esc(row_key)}</th>"
    header += "".join(f"<th>{esc(c)}</th>" for c in cols if col_key)
    if not col_key:
        header += "<th>image</th>"
    body = []
    for r in row_values:
        cells = [f"<th>{esc(r)}</th>"]
        for c in cols:
            match = [
                j
                for j in jobs
                if j.overrides.get(row_key) == r and (not col_key or j.overrides.get(col_key) == c)
            ]
            parts = []
            for job in match:
                link = href(job_pages[job.name], page_dir)
                img = images.get(job.name)
                inner = (
                    f"<img src='{href(img, page_dir)}' alt='{esc(job.name)}' loading='lazy'>"
                    if img
                    else esc(job.status)
                )
                parts.append(f"<a href='{link}' title='{esc(job.name)}'>{inner}</a>")
            cells.append(f"<td>{''.join(parts)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f"<table class='grid'><thead><tr>{header}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def metrics_table(metrics: dict) -> str:
    rows = []
    for key, value in metrics.items():
        shown = fmt(value) if is_scalar(value) else json.dumps(value)
        num = " class='num'" if is_number(value) else ""
        rows.append(f"<tr><td>{esc(key)}</td><td{num}>{esc(shown)}</td></tr>")
    return (
        "<table class='sortable'><thead><tr><th>metric</th><th>value</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def job_page(job: Job, page_dir: Path, index: Path, keys: list[str]) -> str:
    title = short_label(job, keys)
    parts = [
        f"<p><a href='{href(index, page_dir)}'>&larr; all jobs</a></p>",
        f"<h1>{esc(title)}</h1>",
        f"<p class='meta'>folder: {esc(job.name)}<br>status: {esc(job.status)}"
        + (f" &mdash; {esc(job.error)}" if job.error else "")
        + "</p>",
    ]
    if job.overrides:
        items = "".join(
            f"<tr><td>{esc(k)}</td><td>{'<b>' if k in keys else ''}{esc(v)}"
            f"{'</b>' if k in keys else ''}</td></tr>"
            for k, v in job.overrides.items()
        )
        parts.append(
            f"<h2>Overrides</h2><table><thead><tr><th>key</th><th>value</th></tr></thead>"
            f"<tbody>{items}</tbody></table>"
        )
    files = [p for p in (job.folder / "config.yaml", job.folder / "metrics.json") if p.is_file()]
    if files:
        links = " &middot; ".join(f"<a href='{href(p, page_dir)}'>{esc(p.name)}</a>" for p in files)
        parts.append(f"<p class='meta'>files: {links}</p>")
    if job.images:
        figs = "".join(
            f"<figure><a href='{href(p, page_dir)}'><img src='{href(p, page_dir)}' "
            f"alt='{esc(p.stem)}'></a><figcaption>{esc(p.stem)}</figcaption></figure>"
            for p in job.images
        )
        parts.append(f"<h2>Images</h2><div class='images'>{figs}</div>")
    if job.metrics:
        parts.append(f"<h2>Metrics</h2>{metrics_table(job.metrics)}")
    return page(title, "".join(parts), script=True)
