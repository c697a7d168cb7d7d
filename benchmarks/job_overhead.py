"""Fixed cost of a vizlab job: a single run from the shell, and each further job of a sweep.

Every job is a one-iteration inversion on the tiny random CNN (``model=tiny_cnn
method.iterations=1 method.finetune_iterations=0``), so what is timed is the overhead around
the work: interpreter and imports, Hydra's config composition, the model build, the logger
(local files only, or W&B offline as well), the result files.

* ``single``: ``python run.py ...`` from the shell, wall seconds, best of ``--repeats``;
* ``sweep``: ``python run.py -m ... method.seed=range(N)`` for N = 1 and N = ``--jobs``; the
  seconds per further job are the difference divided by ``--jobs - 1`` (the interpreter and
  import cost of the sweep's own process cancels out), best of ``--repeats``; with Hydra's
  basic launcher (one process, one job after the other) and the joblib launcher (worker
  processes; ``--workers`` of them).

Each figure is also given in CPU seconds (user + system of the child processes), which
depends less on what else the machine runs. ``--threads N`` runs every job with ``threads=N``
(and ``OMP_NUM_THREADS=N``); pin the benchmark to cores with ``taskset`` (the cores it may
use, the load average and the threads are stored with the results). Results are printed and
written to ``benchmarks/results/job_overhead.json`` (or ``--out``).

Usage: ``python benchmarks/job_overhead.py [--jobs 100] [--repeats 3] [--workers 2]
[--only single,basic,joblib] [--wandb off,on] [--threads 1]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
JOB = ["model=tiny_cnn", "method.iterations=1", "method.finetune_iterations=0", "progress=false"]
LOGGERS = {"off": "logger=local", "on": "logger=default"}


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the children) of one command, which must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def single_run(wandb: str, work: Path, env: dict[str, str], repeats: int) -> dict:
    runs = []
    for r in range(repeats):
        out = work / f"single_{wandb}_{r}"
        cmd = [sys.executable, "run.py", *JOB, LOGGERS[wandb], f"hydra.run.dir={out}"]
        runs.append(timed(cmd, env))
    return {
        "seconds": min(w for w, _ in runs),
        "cpu_seconds": min(c for _, c in runs),
        "all_seconds": [round(w, 3) for w, _ in runs],
    }


def sweep(
    launcher: str, wandb: str, jobs: int, workers: int, work: Path, env: dict, repeats: int
) -> dict:
    extra = (
        [] if launcher == "basic" else ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={workers}"]
    )

    def run(n: int, tag: str) -> tuple[float, float]:
        out = work / f"sweep_{launcher}_{wandb}_{tag}"
        cmd = [
            sys.executable,
            "run.py",
            "-m",
            *JOB,
            LOGGERS[wandb],
            f"method.seed=range({n})",
            f"hydra.sweep.dir={out}",
            *extra,
        ]
        return timed(cmd, env)

    rows = []
    for r in range(repeats):
        one_wall, one_cpu = run(1, f"1_{r}")
        many_wall, many_cpu = run(jobs, f"{jobs}_{r}")
        rows.append(
            {
                "one_job_seconds": one_wall,
                "sweep_seconds": many_wall,
                "seconds_per_job": (many_wall - one_wall) / (jobs - 1),
                "cpu_seconds_per_job": (many_cpu - one_cpu) / (jobs - 1),
            }
        )
    best = min(rows, key=lambda row: row["seconds_per_job"])
    return {
        "jobs": jobs,
        "workers": workers if launcher == "joblib" else 1,
        **best,
        "cpu_seconds_per_job": min(row["cpu_seconds_per_job"] for row in rows),
        "all_seconds_per_job": [round(row["seconds_per_job"], 3) for row in rows],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", default="single,basic,joblib")
    parser.add_argument("--wandb", default="off,on")
    parser.add_argument("--threads", type=int, default=0, help="torch threads per job (0: default)")
    parser.add_argument("--label", default="", help="stored with the results (e.g. 'before')")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "job_overhead.json"))
    args = parser.parse_args()
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "MPLBACKEND": "Agg"}
    if args.threads:
        JOB.append(f"threads={args.threads}")
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(args.threads)
    kinds = args.only.split(",")
    results: dict = {
        "label": args.label,
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "cores_used": sorted(os.sched_getaffinity(0)),
        "nice": os.nice(0),
        "threads": args.threads or "default",
        "load_average_before": os.getloadavg()[0],
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "job": " ".join(JOB),
    }
    with tempfile.TemporaryDirectory(prefix="vizlab-overhead-") as tmp:
        work = Path(tmp)
        for wandb in args.wandb.split(","):
            if "single" in kinds:
                row = single_run(wandb, work, env, args.repeats)
                results[f"single_wandb_{wandb}"] = row
                print(f"single run, W&B {wandb:>3}: {row['seconds']:.2f} s "
                      f"({row['cpu_seconds']:.2f} CPU s)", flush=True)  # fmt: skip
            for launcher in ("basic", "joblib"):
                if launcher not in kinds:
                    continue
                row = sweep(launcher, wandb, args.jobs, args.workers, work, env, args.repeats)
                results[f"sweep_{launcher}_wandb_{wandb}"] = row
                print(f"sweep {launcher:>6}, W&B {wandb:>3}: {row['seconds_per_job']:.3f} s per "
                      f"further job ({row['cpu_seconds_per_job']:.3f} CPU s), "
                      f"{args.jobs} jobs", flush=True)  # fmt: skip
    results["load_average_after"] = os.getloadavg()[0]
    results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
