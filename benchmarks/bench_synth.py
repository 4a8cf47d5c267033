"""Benchmark ``sdwh synth``: wall time, rows, rows/s and peak RSS, printed as one JSON object.

    python benchmarks/bench_synth.py --persons 1000000 --runs 3 [--out DIR]

Each run writes into a fresh directory under ``/usr/bin/time -v``; the median wall time of the
runs is reported with the largest peak RSS.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def run_once(persons: int, first: str, last: str, seed: int, out: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    sdwh = Path(sys.executable).with_name("sdwh")
    cmd = ["/usr/bin/time", "-v", str(sdwh), "synth", "--persons", str(persons), "--from", first,
           "--to", last, "--seed", str(seed), "--out", str(out), "--json"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", done.stderr)
    h, m, s = (float(g) if g else 0.0 for g in wall.groups())
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
    rows = sum(summary["rows"].values())
    seconds = h * 3600 + m * 60 + s
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    return {"wall_s": seconds, "rows": rows, "rows_per_s": round(rows / seconds),
            "peak_rss_mb": round(rss_kb / 1024), "deliveries": summary["deliveries_written"],
            "bytes_written": size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--from", dest="first", default="2023Q1")
    parser.add_argument("--to", dest="last", default="2025Q4")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="scratch dir (default: temp)")
    args = parser.parse_args()
    scratch = args.out or Path(tempfile.mkdtemp(prefix="bench_synth_"))
    runs = [run_once(args.persons, args.first, args.last, args.seed, scratch / "landing")
            for _ in range(args.runs)]
    shutil.rmtree(scratch / "landing", ignore_errors=True)
    walls = [r["wall_s"] for r in runs]
    median = statistics.median(walls)
    print(json.dumps({
        "benchmark": "synth", "persons": args.persons, "quarters": f"{args.first}..{args.last}",
        "runs": len(runs), "wall_s_median": round(median, 1), "wall_s_all": walls,
        "rows": runs[0]["rows"], "rows_per_s": round(runs[0]["rows"] / median),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "deliveries": runs[0]["deliveries"], "bytes_written": runs[0]["bytes_written"],
    }))


if __name__ == "__main__":
    main()
