"""Time `sdwh publish` on a built warehouse: cold runs (no protection cache) and a warm one.

Usage: python benchmarks/bench_publish.py HOME [--release 2025Q4] [--runs 3] [--workers N]
       [--no-warm]

HOME is a data root with a built warehouse (read only): the warehouse database and the
delivery register are linked into a scratch data root, so the releases and the cache are
written there, never into HOME. Every cold run starts without releases and without cache.
Prints one JSON line: per run wall seconds, CPU seconds (user + sys of the process and its
worker processes), peak RSS of the largest process, cells and suppressed cells, the load
average before the run (the machine is shared), and the median over the cold runs.
Run it under the shared lock: ``flock /tmp/sdwh-bench.lock python benchmarks/bench_publish.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median


def run(home: Path, release: str, workers: int | None) -> dict:
    t0 = time.perf_counter()
    load = Path("/proc/loadavg").read_text().split()[0]
    env = {"SDWH_HOME": str(home), "PATH": "/usr/bin:/bin"}
    if "PYTHONPATH" in os.environ:  # e.g. an older checkout, for before/after figures
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    if workers is not None:
        env["SDWH_PUBLISH_WORKERS"] = str(workers)
    # run outside the checkout: `python -m` puts the working directory first on sys.path,
    # which would shadow a PYTHONPATH checkout with the current one
    proc = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-m", "sdwh", "publish",
                           "--release", release, "--json"],
                          env=env, capture_output=True, text=True, cwd=home)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(proc.stdout[-2000:] + proc.stderr[-2000:])
    err = proc.stderr
    cpu = sum(float(re.search(rf"{k} time \(seconds\): ([\d.]+)", err).group(1))
              for k in ("User", "System"))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", err).group(1))
    payload = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "peak_rss_mib": round(rss / 1024),
            "load_before": float(load), "tables": payload["sdc"]["tables"],
            "cells": {k: v["cells"] for k, v in payload["indicators"].items()},
            "suppressed": {k: v["suppressed_cells"] for k, v in payload["indicators"].items()}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("home", type=Path)
    parser.add_argument("--release", default="2025Q4")
    parser.add_argument("--runs", type=int, default=3, help="cold runs (median reported)")
    parser.add_argument("--no-warm", action="store_true", help="skip the warm run")
    parser.add_argument("--workers", type=int, default=None,
                        help="SDWH_PUBLISH_WORKERS (default: the setting's default)")
    args = parser.parse_args()
    src = args.home.resolve()
    with tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp:
        home = Path(tmp)
        (home / "warehouse").mkdir()
        (home / "raw").mkdir()
        (home / "warehouse" / "sdwh.duckdb").symlink_to(src / "warehouse" / "sdwh.duckdb")
        (home / "raw" / "_deliveries.parquet").symlink_to(src / "raw" / "_deliveries.parquet")
        (home / "register.sqlite").symlink_to(src / "register.sqlite")
        cold = []
        for _ in range(args.runs):
            for stale in ("releases", "publish"):
                shutil.rmtree(home / stale, ignore_errors=True)
            cold.append(run(home, args.release, args.workers))
        shutil.rmtree(home / "releases", ignore_errors=True)
        warm = None if args.no_warm else run(home, args.release, args.workers)
    print(json.dumps({
        "home": str(src), "release": args.release, "workers": args.workers,
        "cpus": len(os.sched_getaffinity(0)), "cold_runs": cold, "warm": warm,
        "cold_median": {k: median(r[k] for r in cold)
                        for k in ("wall_s", "cpu_s", "peak_rss_mib", "load_before")}}))


if __name__ == "__main__":
    main()
