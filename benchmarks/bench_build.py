"""Benchmark `sdwh build`: a full build over N persons × Q quarters and one incremental quarter.

    python benchmarks/bench_build.py --persons 1000000 --from 2021Q1 --to 2025Q4

Steps, each a separate process under /usr/bin/time -v (wall, CPU user+sys, peak RSS, load
average before and after): synth; ingest of every delivery except the last quarter's; full
build; ingest of the last quarter; incremental build. Per-layer seconds come from the build's
own summary (dbt node timings). Prints one JSON line. --reuse HOME starts from a data root
whose history is already synthesised and ingested (the 6.9 M data take ~20 min to make), and
copies nothing: the full build runs in HOME. Run under `flock /tmp/sdwh-bench.lock`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def timed(cmd: list[str], env: dict[str, str]) -> dict:
    """Run a command under /usr/bin/time -v; wall and CPU seconds, peak RSS, its JSON output.

    CPU (user + sys) is reported beside wall time because the benchmark box is shared: wall
    time grows with other people's load, CPU time much less."""
    load_before = load_average()
    started = time.perf_counter()
    out = subprocess.run(["/usr/bin/time", "-v", *cmd], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr)
    cpu = sum(float(m) for m in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)",
                                           out.stderr))
    lines = [x for x in out.stdout.splitlines() if x.startswith("{")]
    if out.returncode != 0:
        sys.stderr.write(out.stdout[-3000:] + out.stderr[-3000:])
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            "peak_rss_mib": int(rss.group(1)) // 1024 if rss else None,
            "load_before": load_before, "load_after": load_average(),
            "returncode": out.returncode, "json": json.loads(lines[-1]) if lines else None}


def last_quarter_marks(last: str) -> tuple[str, ...]:
    year, q = last.split("Q")
    months = [f"{year}-{m:02d}" for m in range(3 * int(q) - 2, 3 * int(q) + 1)]
    return (last, *months)


def ingest_cmd(home: Path, exclude: tuple[str, ...], only: tuple[str, ...]) -> list[str]:
    code = (
        "import sys; from sdwh.config import Settings; "
        "from sdwh.landing.ingest import ingest_all, landing_folders; "
        f"s = Settings(home={str(home)!r}); fs = landing_folders(s.landing_dir); "
        f"ex, only = {exclude!r}, {only!r}; "
        "fs = [f for f in fs if (any(m in f.name for m in only) if only "
        "else not any(m in f.name for m in ex))]; "
        "r = ingest_all(s, fs); import json; print(json.dumps(r.as_dict()['deliveries']))"
    )
    return [sys.executable, "-c", code]


def layer_seconds(build: dict) -> dict:
    payload = build["json"] or {}
    return {"seconds_per_layer": payload.get("seconds_per_layer"),
            "rows_per_layer": payload.get("rows_per_layer"), "tests": payload.get("tests"),
            "mode": payload.get("mode"), "refresh_from": payload.get("refresh_from")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--from", dest="first", default="2021Q1")
    ap.add_argument("--to", dest="last", default="2025Q4")
    ap.add_argument("--home", type=Path, default=None, help="data root (default: a temp dir)")
    ap.add_argument("--reuse", type=Path, default=None,
                    help="data root with the history already synthesised and ingested")
    args = ap.parse_args()
    home = (args.reuse or args.home or Path(tempfile.mkdtemp(prefix="bench_build_"))).resolve()
    env = {**os.environ, "SDWH_HOME": str(home)}
    env.setdefault("SDWH_TTP_KEY", "ab" * 32)
    sdwh = [sys.executable, "-m", "sdwh"]
    marks = last_quarter_marks(args.last)
    result: dict = {"persons": args.persons, "quarters": f"{args.first}-{args.last}",
                    "home": str(home)}
    if args.reuse is None:
        result["synth"] = timed([*sdwh, "synth", "--persons", str(args.persons), "--from",
                                 args.first, "--to", args.last, "--json"], env)
        result["synth"].pop("json")
        result["ingest_history"] = timed(ingest_cmd(home, marks, ()), env)
    keys = ("wall_s", "cpu_s", "peak_rss_mib", "load_before", "load_after", "returncode")
    full = timed([*sdwh, "build", "--full-refresh", "--json"], env)
    result["full_build"] = {k: full[k] for k in keys}
    result["full_build"].update(layer_seconds(full))
    result["ingest_last_quarter"] = timed(ingest_cmd(home, (), marks), env)
    inc = timed([*sdwh, "build", "--json"], env)
    result["incremental_build"] = {k: inc[k] for k in keys}
    result["incremental_build"].update(layer_seconds(inc))
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
