"""The static HTML report of a real 2 x 3 sweep on the tiny CNN (``target.index`` x ``param``):
written by the sweep itself, every link and image resolving to a file, the image grid laid out
by the swept keys, one page per job, summary plots for a non-inversion method; and the report
of a single run and the ``vizlab report`` entry."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from tests.test_end_to_end import run_py
from vizlab.report import main, write_report


class Links(HTMLParser):
    """Every href and src of a page, plus the table rows of the jobs and the grid."""

    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.tables: list[dict] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("href", "src"):
            if attrs.get(key):
                self.links.append(attrs[key])
        if tag == "table":
            self.tables.append({"class": attrs.get("class", ""), "rows": 0, "imgs": 0})
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"] += 1
        elif tag == "img" and self.tables:
            self.tables[-1]["imgs"] += 1
        elif tag == "script":
            self.scripts += 1


def parse(page: Path) -> Links:
    parser = Links()
    parser.feed(page.read_text())
    return parser


def resolve(link: str, page: Path) -> Path:
    parsed = urlparse(link)
    assert not parsed.scheme and not parsed.netloc, f"{page.name}: non-local link {link}"
    return (page.parent / unquote(parsed.path)).resolve()


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    sweep_dir = tmp_path_factory.mktemp("report") / "sweep"
    run_py(
        "-m",
        "model=tiny_cnn",
        "data.size=32",
        "method=activation_max",
        "target=channel",
        "target.layer=blocks.1",
        "target.index=0,1",
        "param=pixel,fourier,maco",
        "method.iterations=3",
        "method.transfer_models=[]",
        "method.reference_set=data",
        "logger=local",
        f"hydra.sweep.dir={sweep_dir}",
    )
    return sweep_dir


def test_the_sweep_writes_its_report_and_every_link_resolves(sweep):
    index = sweep / "report" / "index.html"
    assert index.is_file(), "the sweep callback did not write the report"
    pages = [index, *sorted((sweep / "report" / "jobs").glob("*.html"))]
    assert len(pages) == 1 + 6
    for page in pages:
        links = parse(page).links
        assert links, page
        for link in links:
            target = resolve(link, page)
            assert target.is_file(), f"{page.name}: {link} -> {target} is missing"


def test_the_index_shows_the_grid_by_swept_keys_and_a_sortable_table(sweep):
    index = sweep / "report" / "index.html"
    page = parse(index)
    text = index.read_text()
    grid = next(t for t in page.tables if t["class"] == "grid")
    assert grid["rows"] == 1 + 2 and grid["imgs"] == 6  # header + target.index 0, 1
    assert "target.index \\ param" in text
    for param in ("pixel", "fourier", "maco"):
        assert f"<th>{param}</th>" in text  # one column per param
    jobs = next(t for t in page.tables if t["class"] == "sortable")
    assert jobs["rows"] == 1 + 6 and jobs["imgs"] == 6  # a thumbnail per job
    assert page.scripts == 1 and "addEventListener" in text  # inline sorting, no CDN
    assert "http://" not in text and "https://" not in text
    plots = {p.name for p in (sweep / "report" / "plots").glob("*.png")}
    assert plots == {"by_target.index.png", "by_param.png"}  # not only for inversion


def test_each_job_page_shows_all_its_images_and_metrics(sweep):
    folders = {p.resolve() for p in sweep.iterdir() if (p / "metrics.json").is_file()}
    covered = set()
    for page in (sweep / "report" / "jobs").glob("*.html"):
        shown = {resolve(link, page) for link in parse(page).links}
        (folder,) = {p.parent for p in shown if p.name == "metrics.json"}
        covered.add(folder)
        assert set(folder.glob("*.png")) <= shown and len(list(folder.glob("*.png"))) >= 2
        text = page.read_text()
        assert "achieved_activation" in text and "param" in text
    assert covered == folders


def test_a_single_run_gets_a_report_and_the_cli_entry_works(sweep, capsys):
    job = next(p for p in sorted(sweep.iterdir()) if (p / "metrics.json").is_file())
    index = write_report(job)
    assert index == job / "report" / "index.html"
    for link in parse(index).links:
        assert resolve(link, index).is_file(), link
    assert main([str(sweep)]) == 0
    assert str(sweep / "report" / "index.html") in capsys.readouterr().out


def test_a_folder_without_runs_is_a_clear_error(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "no vizlab run" in err
    assert main([str(tmp_path / "missing")]) == 2


def test_failed_and_interrupted_jobs_are_listed_with_their_error(tmp_path):
    """Built from job folders alone (no model): an ok job, a failed one, an interrupted one."""
    from PIL import Image

    for num, (status, c) in enumerate([("complete", 1), ("failed", 20), ("interrupted", 300)]):
        job = tmp_path / f"{num}_method.C={c}"
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(f"- method.C={c}\n- model=tiny_cnn\n")
        record = {"id": f"j{num}", "status": status, "overrides": [f"method.C={c}"]}
        if status != "complete":
            record["error"] = "Traceback ...\nNonFiniteError: energy is nan at step 7"
        (job / "job.json").write_text(json.dumps(record))
        if status != "failed":
            metrics = {"reconstruction_error": 10.0 * (num + 1), "C": float(c)}
            metrics["interrupted"] = status == "interrupted"
            (job / "metrics.json").write_text(json.dumps(metrics))
            Image.new("RGB", (8, 8), (200, 20, 20)).save(job / "comparison.png")
    index = write_report(tmp_path)
    text = index.read_text()
    assert "3 job(s): 1 failed, 1 interrupted, 1 ok" in text
    assert "<tr class='failed'>" in text and "NonFiniteError: energy is nan at step 7" in text
    assert "Swept: method.C" in text
    for page in [index, *(tmp_path / "report" / "jobs").glob("*.html")]:
        for link in parse(page).links:
            assert resolve(link, page).is_file(), link
