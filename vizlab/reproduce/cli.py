"""``vizlab reproduce [NAME ...] [--quick]``: run the papers' experiments and write the
reproduction report (one Markdown page per paper with figures, tables and wall times)."""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import traceback
from pathlib import Path

from vizlab.errors import VizlabError
from vizlab.reproduce.catalog import ALIASES, BY_NAME, CATALOG, Reproduction
from vizlab.reproduce.jobs import Job, build_grid, job_id, load_cached, run_job
from vizlab.reproduce.pages import write_failure, write_pages, write_part
from vizlab.reproduce.quick import quick_grid


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vizlab reproduce",
        description="Run the experiment configs that reproduce the papers' figures and tables "
        "and write docs/reproduction/ (one Markdown page per paper).",
    )
    p.add_argument("names", nargs="*", help="experiments (default: all); see --list")
    p.add_argument(
        "--quick", action="store_true", help="tiny models, 2 iterations, 32 px: a smoke test"
    )
    p.add_argument(
        "--out", type=Path, help="report folder (default docs/reproduction; --quick: a temp folder)"
    )
    p.add_argument(
        "--cache",
        type=Path,
        help="job results folder (default outputs/reproduce; --quick: OUT/cache)",
    )
    p.add_argument(
        "--reuse",
        action="store_true",
        help="load jobs already in the cache instead of running them",
    )
    p.add_argument(
        "--no-run",
        action="store_true",
        help="only what is in the cache (implies --reuse): rebuild the report without computing",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override for every job (Hydra syntax; a,b,c replaces that sweep axis)",
    )
    p.add_argument(
        "--note", default="", help="a paragraph added to each section (e.g. why a protocol was cut)"
    )
    p.add_argument("--list", action="store_true", help="list the experiments and exit")
    return p


def resolve(names: list[str]) -> list[Reproduction]:
    chosen = []
    for name in names or [r.name for r in CATALOG]:
        name = ALIASES.get(name, name)
        if name not in BY_NAME:
            raise VizlabError(
                f"Unknown experiment '{name}'. Reproducible experiments: "
                f"{', '.join(BY_NAME)} (aliases: {', '.join(ALIASES)})."
            )
        chosen.append(BY_NAME[name])
    return chosen


def command_line(repro: Reproduction, args: argparse.Namespace) -> str:
    parts = ["vizlab reproduce", repro.name]
    parts += ["--quick"] if args.quick else []
    parts += ["--no-run"] if args.no_run else []
    parts += [f"--set {shlex.quote(s)}" for s in args.set]
    return " ".join(parts)


def reproduce(repro: Reproduction, args: argparse.Namespace, out: Path, cache: Path) -> Path:
    grid = build_grid(repro.name, args.set)
    if args.quick:
        grid = quick_grid(grid, repro.quick)
    jobs: list[Job] = []
    missing: list[str] = []
    for point in grid.jobs():
        folder = cache / (repro.cache_as or repro.name) / job_id(point)
        if args.no_run:
            if (cached := load_cached(folder, point)) is not None:
                jobs.append(cached)
            else:
                missing.append(job_id(point))
            continue
        jobs.append(run_job(grid, point, folder, reuse=args.reuse or args.quick))
        print(f"[reproduce] {repro.name} {job_id(point)}: {jobs[-1].seconds:.0f} s", flush=True)
    if not jobs:
        raise VizlabError(f"No cached job of '{repro.name}' in {cache}; run it without --no-run.")
    if repro.prepare is not None:
        repro.prepare(jobs)
    rendering = repro.layout(jobs, repro.paper)
    if args.note:
        rendering.markdown = f"{args.note}\n\n{rendering.markdown}"
    return write_part(out, repro, grid, jobs, rendering, command_line(repro, args), missing)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``vizlab reproduce``; returns the exit code (0: every experiment ran)."""
    args = parser().parse_args(argv)
    try:
        if args.list:
            for r in CATALOG:
                print(f"{r.name:30s} {r.title}")
            return 0
        chosen = resolve(args.names)
    except VizlabError as err:
        print(f"vizlab error: {err}", file=sys.stderr)
        return 2
    if args.out:
        out = args.out
    elif args.quick:
        out = Path(tempfile.mkdtemp(prefix="vizlab-reproduce-quick-"))
    else:
        out = Path("docs") / "reproduction"
    cache = args.cache or (out / "cache" if args.quick else Path("outputs") / "reproduce")
    failed = []
    for repro in chosen:
        try:
            reproduce(repro, args, out, cache)
        except KeyboardInterrupt:  # Ctrl-C / SIGTERM: finished jobs stay in the cache
            write_pages(out)
            print(
                f"vizlab: reproduce interrupted during {repro.name}; finished jobs are cached in "
                f"{cache} (rerun with --reuse to continue).",
                file=sys.stderr,
            )
            return 130
        except (VizlabError, Exception) as err:  # noqa: BLE001 - one failure must not lose the rest
            failed.append(repro.name)
            detail = str(err) if isinstance(err, VizlabError) else traceback.format_exc()
            write_failure(out, repro, command_line(repro, args), detail)
            print(f"[reproduce] {repro.name} failed: {err}", file=sys.stderr, flush=True)
    pages = write_pages(out)
    print(f"[reproduce] wrote {', '.join(str(p) for p in pages)}", flush=True)
    if failed:
        print(f"[reproduce] failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
