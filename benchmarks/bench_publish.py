"""Time `sdwh publish` on a built warehouse: cold (no protection cache) and warm.

Usage: python benchmarks/bench_publish.py HOME [--release 2025Q4]

HOME is a data root with a built warehouse (read only): the warehouse database and the
delivery register are linked into a scratch data root, so the releases and the cache are
written there, never into HOME. Prints one JSON line with wall seconds, CPU seconds, peak RSS,
cells and suppressed cells per run, plus the load average before each run (the machine is
shared).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(home: Path, release: str) -> dict:
    t0 = time.perf_counter()
    load = Path("/proc/loadavg").read_text().split()[0]
    proc = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-m", "sdwh", "publish",
                           "--release", release, "--json"],
                          env={"SDWH_HOME": str(home), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True)
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
    args = parser.parse_args()
    src = args.home.resolve()
    with tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp:
        home = Path(tmp)
        (home / "warehouse").mkdir()
        (home / "raw").mkdir()
        (home / "warehouse" / "sdwh.duckdb").symlink_to(src / "warehouse" / "sdwh.duckdb")
        (home / "raw" / "_deliveries.parquet").symlink_to(src / "raw" / "_deliveries.parquet")
        (home / "register.sqlite").symlink_to(src / "register.sqlite")
        cold = run(home, args.release)
        subprocess.run(["rm", "-rf", str(home / "releases")], check=True)
        warm = run(home, args.release)
    print(json.dumps({"home": str(src), "release": args.release, "cold": cold, "warm": warm}))


if __name__ == "__main__":
    main()
