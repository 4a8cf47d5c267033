"""Cost curve of the warehouse build: persons × 20 quarters, DuckDB (and Spark local for the ratio).

Three sub-commands, so that only the measured steps hold the benchmark lock, one step per hold:

    # data root, at idle priority and outside the lock: a hard-linked clone of a finished raw
    # store (or synth + ingest), then every delivery still waiting in landing/ is ingested
    chrt -i 0 .venv/bin/python benchmarks/bench_cost_curve.py prepare --persons 6900000 \\
        --home /tmp/cost-6900k --clone-from /tmp/shared-6900k-20q
    # one measured step per lock hold: the full build of all 20 quarters, then the last quarter
    # again as an incremental build (its deliveries are marked unread in the build state for
    # DuckDB, passed as refresh_from for Spark, so exactly a new quarter's work is redone)
    flock /tmp/sdwh-bench.lock .venv/bin/python benchmarks/bench_cost_curve.py measure \\
        --persons 6900000 --home /tmp/cost-6900k --engine duckdb --step full
    flock /tmp/sdwh-bench.lock .venv/bin/python benchmarks/bench_cost_curve.py measure \\
        --persons 6900000 --home /tmp/cost-6900k --engine duckdb --step incremental
    .venv/bin/python benchmarks/bench_cost_curve.py plot          # docs/cost-curve.png

Each step is a separate process under /usr/bin/time -v (wall, CPU user+sys of the process
and its waited-for children); peak RSS is sampled over the whole process tree every 0.5 s,
so Spark's JVM counts. Load average before and after. Results go to
benchmarks/results/cost_curve_<engine>_<persons>.json, one key per step.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from _measure import machine

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
PNG = REPO / "docs" / "cost-curve.png"
SMALL = 4 * 2**20  # files below this size are copied, not hard-linked, by clone_home


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


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def dir_mib(path: Path) -> float:
    """Size of the files under a folder (DuckDB's spill folder), MiB; 0 if it is missing."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total / 2**20


def timed(cmd: list[str], env: dict[str, str], log: Path, spill: Path | None = None) -> dict:
    """Run a command under /usr/bin/time -v: wall, CPU, peak tree RSS, peak size of the spill
    folder (data that did not fit in memory), load, last JSON line."""
    load_before = load_average()
    started = time.perf_counter()
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.Popen(["/usr/bin/time", "-v", *cmd], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        peak = [0, 0.0]

        def sample() -> None:
            while proc.poll() is None:
                peak[0] = max(peak[0], tree_rss_kib(proc.pid))
                if spill is not None:
                    peak[1] = max(peak[1], dir_mib(spill))
                time.sleep(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        stdout, stderr = proc.communicate()
        sampler.join()
        out.write(stdout[-5000:] + stderr[-5000:])
    wall = time.perf_counter() - started
    cpu = sum(float(m) for m in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", stderr))
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    lines = [x for x in stdout.splitlines() if x.startswith("{")]
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            "peak_rss_tree_mib": round(peak[0] / 1024), "peak_spill_mib": round(peak[1]),
            "peak_rss_largest_process_mib": int(rss.group(1)) // 1024 if rss else None,
            "returncode": proc.returncode, "load_before": load_before,
            "load_after": load_average(), "command": " ".join(cmd[1:]),
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
    saved = json.loads(state.read_text())
    known = saved["delivery_ids"]
    saved["delivery_ids"] = [d for d in known if d not in ids]
    state.write_text(json.dumps(saved, indent=1))
    return len(known) - len(saved["delivery_ids"])


def last_quarter_in(home: Path) -> tuple[str, int]:
    """Latest quarter with a current DmfA delivery, and how many such quarters there are."""
    import duckdb

    last, n = duckdb.sql(
        f"select max(reference_period), count(distinct reference_period) "
        f"from read_parquet('{home}/raw/_deliveries.parquet') "
        "where supplier = 'rsz' and status = 'accepted'").fetchall()[0]
    return last, n


def slim(step: dict) -> dict:
    payload = step.pop("json") or {}
    keep = ("seconds", "seconds_per_layer", "rows_per_layer", "tests", "mode", "refresh_from",
            "statuses", "nodes", "failures")
    step.update({k: payload[k] for k in keep if k in payload})
    if step.get("failures"):
        step["failures"] = step["failures"][:3]
    return step


def clone_home(source: Path, target: Path) -> None:
    """A writable copy of a data root in seconds: hard links for the large immutable data
    files, real copies of the small files a step may rewrite in place (register, state)."""
    subprocess.run(["cp", "-al", str(source), str(target)], check=True)
    (target / "READY").unlink(missing_ok=True)
    for path in target.rglob("*"):
        if path.is_file() and path.stat().st_nlink > 1 and path.stat().st_size < SMALL:
            tmp = path.with_name(path.name + ".__copy")
            shutil.copy2(path, tmp)
            tmp.replace(path)


def environment(home: Path) -> dict[str, str]:
    env = {**os.environ, "SDWH_HOME": str(home), "DO_NOT_TRACK": "1"}
    env.setdefault("SDWH_TTP_KEY", "ab" * 32)
    return env


def prepare(args: argparse.Namespace) -> None:
    home = args.home.resolve()
    env, sdwh = environment(home), [sys.executable, "-m", "sdwh"]
    log = home.parent / f"{home.name}.prepare.log"
    if args.clone_from and not home.exists():
        if not (args.clone_from / "READY").exists():
            raise SystemExit(f"{args.clone_from}/READY does not exist yet")
        clone_home(args.clone_from, home)
    elif not home.exists():
        home.mkdir(parents=True)
        timed([*sdwh, "synth", "--persons", str(args.persons), "--from", args.first, "--to",
               args.last, "--json"], env, log)
    done = timed([*sdwh, "ingest", "--json"], env, log)  # whatever is still in landing/
    if done["returncode"] != 0:
        raise SystemExit(f"ingest failed, see {log}")
    print(json.dumps({"home": str(home), "quarters": last_quarter_in(home)}))


def measure(args: argparse.Namespace) -> None:
    home = args.home.resolve()
    env = environment(home)
    log = home.parent / f"{home.name}.bench.log"
    last, n_quarters = last_quarter_in(home)
    out = RESULTS / f"cost_curve_{args.engine}_{args.persons}.json"
    result = json.loads(out.read_text()) if out.exists() else {}
    result.update({"persons": args.persons, "engine": args.engine, "home": str(home),
                   "quarters_in_raw_store": n_quarters, "incremental_quarter": last,
                   "machine": machine(), "commit": os.environ.get("BENCH_COMMIT")})
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    # DuckDB spills to "<database>.tmp" beside the database (profiles.yml sets no
    # temp_directory since 1ef5d2a); before 2026-12-06 this sampled warehouse/tmp, which
    # stays empty, so spill figures recorded before then are not measurements.
    from sdwh.warehouse.project import WarehousePaths

    paths = WarehousePaths(home)
    spill = (paths.database.with_name(paths.database.name + ".tmp") if args.engine == "duckdb"
             else paths.directory / "spark" / "tmp")
    if args.engine == "duckdb":
        build = [sys.executable, "-m", "sdwh", "build", "--json"]
        if args.step == "full":
            step = timed([*build, "--full-refresh"], env, log, spill)
        else:
            forgotten = forget_last_quarter(home, last)
            step = timed(build, env, log, spill)
            step["forgotten_deliveries"] = forgotten
    else:
        build = [sys.executable, "-m", "sdwh.warehouse.scaleout", "build"]
        if args.spark_exclude:
            build += ["--exclude", args.spark_exclude]
        step = timed([*build, *(["--full-refresh"] if args.step == "full"
                                else ["--refresh-from", last])], env, log, spill)
    step = slim(step)
    step["at"] = stamp
    limit = os.environ.get("SDWH_DUCKDB_MEMORY_LIMIT") if args.engine == "duckdb" else None
    step["memory_limit"] = limit or "default"
    key = f"{args.step}_build"
    if limit:  # a non-default limit is a variant of its own: full_build_memory_limit_75pct
        key += "_memory_limit_" + limit.replace("%", "pct")
    record_run(result, key, step)
    RESULTS.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(json.dumps(step, default=str))


def record_run(result: dict, key: str, step: dict) -> None:
    """Keep every run of a step under <key>_runs and its median run (by wall time, the lower of
    the two middle ones; successful runs only when there are any) under <key>."""
    runs = [*result.get(f"{key}_runs", []), step]
    ok = sorted((r for r in runs if r.get("returncode") == 0), key=lambda r: r["wall_s"])
    result[f"{key}_runs"] = runs
    result[key] = ok[(len(ok) - 1) // 2] if ok else step


def plot(_: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points: dict[str, list[dict]] = {}
    for path in sorted(RESULTS.glob("cost_curve_*.json")):
        r = json.loads(path.read_text())
        if r.get("full_build", {}).get("returncode") == 0:
            points.setdefault(r["engine"], []).append(r)
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(11, 4.2))
    cpus = {r["machine"]["cpu"] for rows in points.values() for r in rows}
    for engine, rows in sorted(points.items()):
        rows.sort(key=lambda r: r["persons"])
        x = [r["persons"] / 1e6 for r in rows]
        label = engine
        if len(cpus) > 1:  # results from more than one machine: say which is which
            names = {r["machine"]["cpu"].replace("(R)", "").split(" Processor")[0] for r in rows}
            label = f"{engine} ({'/'.join(sorted(names))})"
        ax_t.plot(x, [r["full_build"]["wall_s"] / 60 for r in rows], "o-",
                  label=f"{label}: full build")
        inc = [r for r in rows if r.get("incremental_build", {}).get("returncode") == 0]
        if inc:
            ax_t.plot([r["persons"] / 1e6 for r in inc],
                      [r["incremental_build"]["wall_s"] / 60 for r in inc], "s--",
                      label=f"{label}: incremental quarter")
        if engine == "duckdb":
            # the straight line through the 1 M and Flanders (6.9 M) builds, when both exist
            ends = [r for r in rows if r["persons"] in (1_000_000, 6_900_000)]
            if len(ends) == 2:
                (x0, y0), (x1, y1) = ((r["persons"] / 1e6, r["full_build"]["wall_s"] / 60)
                                      for r in ends)
                slope = (y1 - y0) / (x1 - x0)
                ax_t.plot([0, x[-1]], [y0 - slope * x0, y0 + slope * (x[-1] - x0)], ":",
                          color="grey", lw=0.9, label="linear through 1 M and 6.9 M")
        big = [r for r in rows if "full_build_memory_limit_75pct" in r]
        if big:  # the same build with DuckDB's memory_limit at 75 % of RAM
            ax_t.plot([r["persons"] / 1e6 for r in big],
                      [r["full_build_memory_limit_75pct"]["wall_s"] / 60 for r in big], "D",
                      mfc="none", label=f"{label}: full, memory_limit 75 %")
        ax_m.plot(x, [r["full_build"]["peak_rss_tree_mib"] / 1024 for r in rows], "o-",
                  label=f"{label}: peak RSS")
        if engine == "duckdb":
            ax_m.plot(x, [(r["full_build"]["peak_rss_tree_mib"]
                           + r["full_build"].get("peak_spill_mib", 0)) / 1024 for r in rows],
                      "^--", label=f"{label}: RSS + peak spill")
    ax_m.axhline(8e9 / 2**30, color="grey", lw=0.8, ls=":")
    ax_m.text(0.3, 8e9 / 2**30, " DuckDB memory_limit (8 GB default); beyond it, spill",
              va="top", fontsize=7, color="grey", transform=ax_m.get_yaxis_transform())
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    ax_m.axhline(ram, color="firebrick", lw=0.8, ls=":")
    ax_m.text(0.02, ram, f" RAM of this machine ({ram:.1f} GiB)", va="bottom", fontsize=7,
              color="firebrick", transform=ax_m.get_yaxis_transform())
    for ax, ylabel in ((ax_t, "wall time (min)"), (ax_m, "peak RSS, process tree (GiB)")):
        ax.set_xlabel("persons (millions) × 20 quarters")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("sdwh warehouse build cost (2 vCPU, 23.5 GiB RAM, shared machine)")
    fig.tight_layout()
    fig.savefig(PNG, dpi=110)
    print(PNG)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="make the data root (idle priority, outside the lock)")
    p.add_argument("--persons", type=int, required=True)
    p.add_argument("--home", type=Path, required=True)
    p.add_argument("--clone-from", type=Path, default=None,
                   help="finished data root (with READY) to hard-link instead of synthesising")
    p.add_argument("--from", dest="first", default="2021Q1")
    p.add_argument("--to", dest="last", default="2025Q4")
    p.set_defaults(func=prepare)
    m = sub.add_parser("measure", help="one measured build step (run under flock)")
    m.add_argument("--persons", type=int, required=True)
    m.add_argument("--home", type=Path, required=True)
    m.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb")
    m.add_argument("--step", choices=["full", "incremental"], required=True)
    m.add_argument("--spark-exclude", default=None,
                   help="dbt --exclude for Spark, e.g. resource_type:test (data tests)")
    m.set_defaults(func=measure)
    sub.add_parser("plot", help="draw docs/cost-curve.png").set_defaults(func=plot)
    args = ap.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
