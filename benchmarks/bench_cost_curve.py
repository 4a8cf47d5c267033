"""Cost curve of the warehouse build: persons × 20 quarters on DuckDB and on Spark local.

    flock /tmp/sdwh-bench.lock .venv/bin/python benchmarks/bench_cost_curve.py \
        --persons 1000000 --engines duckdb,spark
    .venv/bin/python benchmarks/bench_cost_curve.py --plot     # docs/cost-curve.png

Per size, in one data root: synth + ingest of every quarter (skipped with --raw-from, which
links an existing, finished raw store read-only); a full build per engine; then the
incremental quarter per engine: the last quarter's deliveries are marked unread in the build
state (DuckDB) or passed as refresh_from (Spark), so exactly the work of a newly arrived
quarter is redone with everything else in place. Every step is a separate process; wall time,
peak RSS of the whole process tree (the JVM included) and the load average are recorded.
One JSON file per size and engine goes to benchmarks/results/; --plot draws them all.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _measure import machine

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
PNG = REPO / "docs" / "cost-curve.png"


def tree_rss_kib(root: int) -> int:
    """Resident memory of a process and all its descendants (KiB), from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            pid = int(stat.parent.name)
            children.setdefault(int(fields[1]), []).append(pid)
            rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") // 1024
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


def timed(cmd: list[str], env: dict[str, str], log: Path) -> dict:
    """Run a command; wall seconds, peak tree RSS (sampled every 0.5 s), load, last JSON line."""
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=out, text=True)
        peak = [0]

        def sample() -> None:
            while proc.poll() is None:
                peak[0] = max(peak[0], tree_rss_kib(proc.pid))
                time.sleep(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        stdout, _ = proc.communicate()
        sampler.join()
        out.write(stdout[-5000:])
    lines = [x for x in stdout.splitlines() if x.startswith("{")]
    return {"wall_s": round(time.perf_counter() - started, 1),
            "peak_rss_mib": round(peak[0] / 1024), "returncode": proc.returncode,
            "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2),
            "json": json.loads(lines[-1]) if lines else None}


def quarter_marks(last: str) -> tuple[str, ...]:
    year, q = last.split("Q")
    return (last, *(f"{year}-{m:02d}" for m in range(3 * int(q) - 2, 3 * int(q) + 1)))


def forget_last_quarter(home: Path, last: str) -> int:
    """Drop the last quarter's deliveries from the build state, as if they had just arrived."""
    import duckdb

    marks = quarter_marks(last)
    ids = {r[0] for r in duckdb.sql(
        f"select delivery_id from read_parquet('{home}/raw/_deliveries.parquet') "
        f"where reference_period in {marks!r}").fetchall()}
    state = home / "warehouse" / "build_state.json"
    known = json.loads(state.read_text())["delivery_ids"]
    kept = [d for d in known if d not in ids]
    state.write_text(json.dumps({"delivery_ids": kept}, indent=1))
    return len(known) - len(kept)


def last_quarter_in(home: Path) -> tuple[str, int]:
    """Latest quarter with a current DmfA delivery, and how many such quarters there are."""
    import duckdb

    last, n = duckdb.sql(
        f"select max(reference_period), count(distinct reference_period) "
        f"from read_parquet('{home}/raw/_deliveries.parquet') "
        "where supplier = 'rsz' and status = 'accepted'").fetchone()
    return last, n


def slim(step: dict) -> dict:
    payload = step.pop("json") or {}
    keep = ("seconds", "seconds_per_layer", "rows_per_layer", "tests", "mode", "refresh_from",
            "statuses", "nodes", "failures")
    step.update({k: payload[k] for k in keep if k in payload})
    if step.get("failures"):
        step["failures"] = step["failures"][:3]
    return step


def run(args: argparse.Namespace) -> None:
    home = (args.home or Path(tempfile.mkdtemp(prefix=f"sdwh9-cost-{args.persons}-"))).resolve()
    home.mkdir(parents=True, exist_ok=True)
    log = home / "bench.log"
    env = {**os.environ, "SDWH_HOME": str(home), "DO_NOT_TRACK": "1"}
    env.setdefault("SDWH_TTP_KEY", "ab" * 32)
    py = sys.executable
    sdwh = [py, "-m", "sdwh"]
    spark = [py, "-m", "sdwh.warehouse.scaleout", "build"]
    base = {"persons": args.persons, "quarters": f"{args.first}-{args.last}", "home": str(home),
            "machine": machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if args.raw_from:
        if not (args.raw_from / "READY").exists():
            raise SystemExit(f"{args.raw_from}/READY does not exist yet")
        if not (home / "raw").exists():
            (home / "raw").symlink_to(args.raw_from.resolve() / "raw")
        base["raw_store"] = f"linked read-only from {args.raw_from}"
    elif not (home / "raw" / "_deliveries.parquet").exists():
        base["synth"] = slim(timed([*sdwh, "synth", "--persons", str(args.persons), "--from",
                                    args.first, "--to", args.last, "--seed", "7", "--json"],
                                   env, log))
        base["ingest"] = slim(timed([*sdwh, "ingest", "--json"], env, log))
    RESULTS.mkdir(exist_ok=True)
    last, n_quarters = last_quarter_in(home)
    base["quarters_in_raw_store"] = n_quarters
    base["incremental_quarter"] = last
    for engine in args.engines.split(","):
        result = {**base, "engine": engine}
        if engine == "duckdb":
            result["full_build"] = slim(timed([*sdwh, "build", "--full-refresh", "--json"], env,
                                              log))
            result["forgotten_deliveries"] = forget_last_quarter(home, last)
            result["incremental_build"] = slim(timed([*sdwh, "build", "--json"], env, log))
        else:
            result["full_build"] = slim(timed([*spark, "--full-refresh"], env, log))
            result["incremental_build"] = slim(timed([*spark, "--refresh-from", last], env, log))
        out = RESULTS / f"cost_curve_{engine}_{args.persons}.json"
        out.write_text(json.dumps(result, indent=1, default=str))
        print(json.dumps(result, default=str))


def plot() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points: dict[str, list[dict]] = {}
    for path in sorted(RESULTS.glob("cost_curve_*.json")):
        r = json.loads(path.read_text())
        if r["full_build"]["returncode"] == 0:
            points.setdefault(r["engine"], []).append(r)
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(11, 4.2))
    for engine, rows in sorted(points.items()):
        rows.sort(key=lambda r: r["persons"])
        x = [r["persons"] / 1e6 for r in rows]
        ax_t.plot(x, [r["full_build"]["wall_s"] / 60 for r in rows], "o-",
                  label=f"{engine}: full build")
        ax_t.plot(x, [r["incremental_build"]["wall_s"] / 60 for r in rows], "s--",
                  label=f"{engine}: incremental quarter")
        ax_m.plot(x, [r["full_build"]["peak_rss_mib"] / 1024 for r in rows], "o-",
                  label=f"{engine}: full build")
    for ax, ylabel in ((ax_t, "wall time (min)"), (ax_m, "peak RSS, process tree (GiB)")):
        ax.set_xlabel("persons (millions) × 20 quarters")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    ax_m.axhline(23.5, color="grey", lw=0.8)
    ax_m.text(0.05, 23.5, " machine RAM 23.5 GiB", va="bottom", fontsize=8, color="grey")
    fig.suptitle("sdwh warehouse build cost (2 vCPU, 23.5 GiB, shared machine)")
    fig.tight_layout()
    fig.savefig(PNG, dpi=110)
    print(PNG)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--from", dest="first", default="2021Q1")
    ap.add_argument("--to", dest="last", default="2025Q4")
    ap.add_argument("--engines", default="duckdb", help="comma list: duckdb,spark")
    ap.add_argument("--home", type=Path, default=None, help="data root (default: a temp dir)")
    ap.add_argument("--raw-from", type=Path, default=None,
                    help="data root of a finished raw store (needs READY) to link read-only")
    ap.add_argument("--plot", action="store_true", help="only draw docs/cost-curve.png")
    args = ap.parse_args()
    if args.plot:
        plot()
    else:
        run(args)


if __name__ == "__main__":
    main()
