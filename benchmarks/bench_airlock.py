"""Automatic airlock checks on a 1 M-row extract: seconds per output (target ≤ 2 s).

Builds a warehouse file with a synthetic ``thm_labour_market_panel`` (persons × 8 quarters),
records a project, makes its extract with the real ``make_extract``, then per run submits one
export request of four outputs made with ``project.sql`` / ``save_table`` (a count table, a
count cube with suppressed cells, a mean table, a model summary) after releasing two count
tables, so differencing compares against released outputs. Prints one JSON object.

    flock /tmp/sdwh-bench.lock /usr/bin/time -v .venv/bin/python benchmarks/bench_airlock.py \
        --rows 1000000 --runs 3 --home /tmp/<you>-bench-airlock
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import machine

PANEL = "thm_labour_market_panel"
QUARTERS = [f"{y}Q{q}" for y in (2024, 2025) for q in range(1, 5)]
CONTEXT = dict(description="Benchmark outputs of the panel", how_produced="project.sql",
               units="persons", population="residents 2024Q1-2025Q4")


def build_warehouse(path: Path, rows: int) -> None:
    persons = rows // len(QUARTERS)
    con = duckdb.connect(str(path))
    con.execute("create schema thematic")
    con.execute("select setseed(0.7)")
    con.execute(f"""
        create table thematic.{PANEL} as
        with p as (
            select lpad(to_hex(i), 32, '0') as person_id,
                   (18 + floor(random() * 47))::int as age,
                   case when random() < 0.5 then 'F' else 'M' end as sex_code,
                   ['10000', '20001', '30000', '40000', '70000'][1 + floor(random() * 5)::int]
                       as province_refnis,
                   lpad((1 + floor(random() * 19))::int::varchar, 2, '0') as sep_seq
            from range({persons}) t(i)
        )
        select person_id, q.quarter, age,
               case when age < 25 then '18-24' when age < 45 then '25-44' else '45-64' end
                   as age_band,
               sex_code, province_refnis || '1' as municipality_refnis, province_refnis,
               sep_seq, sep_seq < '06' as is_working
        from p cross join (select unnest({QUARTERS}) as quarter) q
        order by q.quarter, person_id""")
    con.close()


def setup(home: Path, rows: int) -> dict:
    from sdwh.config import Settings
    from sdwh.projects.extract import make_extract
    from sdwh.projects.registry import Registry

    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    os.environ.update({"SDWH_HOME": str(home), "SDWH_AIRLOCK_CHECKERS": "carol,dave"})
    settings = Settings()
    warehouse = home / "bench.duckdb"
    build_warehouse(warehouse, rows)
    reg = Registry(settings)
    reg.create("staff1", id="bench", title="bench", organisation="VSA", legal_basis="art. 5",
               accredited=["alice"], datasets=[PANEL],
               variables=["age", "age_band", "sex_code", "province_refnis", "sep_seq",
                          "is_working"],
               period_from="2024Q1", period_to="2025Q4", start_date=date(2026, 1, 1),
               end_date=date(2099, 1, 1), retention_until=date(2099, 1, 1))
    reg.approve("bench", "staff2", "D/1")
    reg.activate("bench", "staff2")
    reg.grant("bench", "alice", "staff2")
    manifest = make_extract(settings, "bench", "staff2", warehouse=warehouse)
    workspace = home / "alice"
    workspace.mkdir()
    os.environ.update({"SDWH_PROJECT_ID": "bench", "SDWH_PROJECT_EXTRACT": manifest["path"],
                       "SDWH_WORKSPACE": str(workspace), "JUPYTERHUB_USER": "alice"})
    return {"settings": settings, "workspace": workspace, "rows": manifest["tables"][PANEL]["rows"]}


def release_baseline(ws: Path) -> None:
    from sdwh.airlock.service import AirlockService
    from sdwh.config import Settings
    from sdwh.enclave import project

    for name, dim in (("rel_province.csv", "province_refnis"), ("rel_sex.csv", "sex_code")):
        df = project.sql(f"select {dim}, quarter, count(*) as n from {PANEL} group by all")
        project.save_table(df, ws / name)
        rid = project.request_export([name], **CONTEXT)["id"]
        service = AirlockService(Settings())
        for checker in ("carol", "dave"):
            service.vote(rid, checker, name, "approve")
        service.approve(rid, "carol")
        service.release(rid, "dave")


def one_request(ws: Path, run: int) -> dict:
    from sdwh.enclave import project

    outs = {
        f"count_{run}.csv": f"select province_refnis, sex_code, quarter, count(*) as n "
                            f"from {PANEL} group by all",
        f"cube_{run}.csv": f"select province_refnis, sep_seq, count(*) as n from {PANEL} "
                           f"where quarter = '2025Q4' group by cube(province_refnis, sep_seq)",
        f"mean_{run}.csv": f"select province_refnis, age_band, avg(age) as mean_age, "
                           f"count(*) as n from {PANEL} where quarter = '2025Q4' group by all",
    }
    for name, sql in outs.items():
        df = project.sql(sql)
        if name.startswith("cube"):
            df.loc[df["n"] < 10, "n"] = np.nan
        project.save_table(df, ws / name)
    (ws / f"model_{run}.txt").write_text("OLS Regression Results\nNo. Observations: 125000\n"
                                         "Df Residuals: 124990\nDf Model: 9\n")
    started, cpu = time.perf_counter(), _cpu()
    request = project.request_export([*outs, f"model_{run}.txt"], **CONTEXT)
    total = time.perf_counter() - started
    return {"submit_seconds": round(total, 3), "submit_cpu_seconds": round(_cpu() - cpu, 3),
            "per_file": {f["name"]: {"seconds": f["check"]["seconds"],
                                     "status": f["check"]["status"]}
                         for f in request["files"]}}


def _cpu() -> float:
    """User + system CPU seconds of this process and its threads (steadier than wall time on
    a shared machine)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--home", type=Path, default=Path("/tmp/sdwh-bench-airlock"))
    parser.add_argument("--per-person", action="store_true",
                        help="never count cells on rows (the path for tables whose cells "
                             "hold several rows of a person), to compare")
    args = parser.parse_args()
    if args.per_person:
        from sdwh.airlock import checks

        checks.GRAIN_CANDIDATES = ()
    load_start = Path("/proc/loadavg").read_text().split()[:3]
    t0 = time.perf_counter()
    lab = setup(args.home, args.rows)
    setup_seconds = time.perf_counter() - t0
    release_baseline(lab["workspace"])
    runs = [one_request(lab["workspace"], i) for i in range(args.runs)]
    per_output = [f["seconds"] for r in runs for f in r["per_file"].values()]
    result = {
        "rows": lab["rows"], "per_person": args.per_person, "runs": runs,
        "setup_seconds": round(setup_seconds, 1),
        "median_seconds_per_output": round(statistics.median(per_output), 3),
        "max_seconds_per_output": round(max(per_output), 3),
        "median_submit_seconds": round(statistics.median(r["submit_seconds"] for r in runs), 3),
        "median_submit_cpu_seconds": round(statistics.median(
            r["submit_cpu_seconds"] for r in runs), 3),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "loadavg_start": load_start,
        "loadavg": Path("/proc/loadavg").read_text().split()[:3], "machine": machine(),
    }
    print(json.dumps(result, indent=2))
    shutil.rmtree(args.home, ignore_errors=True)


if __name__ == "__main__":
    main()
