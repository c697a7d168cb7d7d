"""A self-contained static HTML report of a sweep or a run (``vizlab report DIR``): sortable
job table with thumbnails, images laid out by the swept keys, summary plots, a page per job."""

from __future__ import annotations

import argparse
import sys
import webbrowser
from pathlib import Path

from vizlab.errors import VizlabError
from vizlab.report.build import write_report, write_sweep_report

__all__ = ["main", "write_report", "write_sweep_report"]


def main(argv: list[str]) -> int:
    """``vizlab report DIR [--open]``: write DIR/report/index.html and print its path."""
    parser = argparse.ArgumentParser(
        prog="vizlab report",
        description="Write a static HTML report (index.html, one page per job) of a sweep "
        "folder or a run folder into its report/ sub-folder.",
    )
    parser.add_argument("folder", type=Path, help="a sweep folder or a single run folder")
    parser.add_argument("--open", action="store_true", help="open the report in a browser")
    args = parser.parse_args(argv)
    try:
        index = write_report(args.folder)
    except VizlabError as err:
        print(f"vizlab error: {err}", file=sys.stderr)
        return err.exit_code
    print(f"[vizlab] report: {index}")
    if args.open:
        webbrowser.open(index.as_uri())
    return 0
