"""Disclosure benchmarks (issue 4): median of 3 wall-clock runs, peak RSS of this process.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_disclosure.py [STAGE …]
     [--acro PYTHON_WITH_ACRO] [--tau PYTHON_WITH_PYTAUARGUS]
Synthetic data follow the SDC report's generator (7 regions incl. a 1 % BRU, 21 NACE
sections Zipf 1.3, 6 age groups, lognormal wages with rare ×400 "CEOs").

ACRO 1.0.2 and pytauargus 0.6.0 run in their own interpreters (they pin other pandas /
ship a native engine): ``--acro`` defaults to ``SDWH_ACRO_PYTHON`` (``make`` builds
``.venv-acro``); for ``--tau`` create one with ``python3 -m venv V && V/bin/pip install
pytauargus==0.6.0``. pytauargus runs are single runs with a wall-clock limit.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from disclosure.microdata import measure_risk, suda2
from disclosure.outputs import frequency_table
from disclosure.protect import protect_table
from disclosure.rules import RuleParams, TableSpec

ACRO_SCRIPT = """
import sys, time, statistics, pandas as pd
from acro import ACRO
df = pd.read_csv(sys.argv[1]); acro = ACRO(suppress=False)
a, p = [], []
for _ in range(3):
    t = time.perf_counter(); acro.crosstab(df.sector, df.region); a.append(time.perf_counter() - t)
    t = time.perf_counter(); pd.crosstab(df.sector, df.region); p.append(time.perf_counter() - t)
print(statistics.median(a), statistics.median(p))
"""


TAU_SCRIPT = """
import csv, json, resource, sys, tempfile, time
import pytauargus
path, dims, method, rules = sys.argv[1:5]
cols = dims.split(",")
data = {c: [] for c in cols + ["wage"]}
with open(path) as fh:
    for row in csv.DictReader(fh):
        for c in cols:
            data[c].append(row[c])
        data["wage"].append(float(row["wage"]))
with tempfile.TemporaryDirectory() as wd:
    t, c = time.perf_counter(), time.process_time()
    res = pytauargus.protect(data, cols, response="wage", safety_rules=rules, suppress=method,
                             workdir=wd)
    wall = time.perf_counter() - t
    cpu = time.process_time() - c + resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    rows = res.tables[0].rows
total = sum(r["wage"] for r in rows)
supp = [r for r in rows if r["status"] in ("U", "M")]
print(json.dumps({"method": method, "rules": rules, "cells": len(rows), "seconds": wall,
                  "cpu_seconds": cpu,
                  "primary": sum(r["status"] == "U" for r in rows),
                  "secondary": sum(r["status"] == "M" for r in rows),
                  "suppressed_value_share": sum(r["wage"] for r in supp) / total,
                  "statuses": sorted({r["status"] for r in rows}),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""
TAU_RULES = "FREQ(10,10)|P(10,1)|NK(2,90)"  # the SDC report's rules = ours (ACRO defaults)


def synthetic(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    zipf = 1 / np.arange(1, 22) ** 1.3
    df = pd.DataFrame({
        "sector": rng.choice(list("ABCDEFGHIJKLMNOPQRSTU"), n, p=zipf / zipf.sum()),
        "region": rng.choice(["ANT", "LIM", "OVL", "WVL", "VBR", "BRU", "HAI"], n,
                             p=[.22, .14, .2, .17, .16, .01, .1]),
        "agegrp": rng.choice(["15-24", "25-34", "35-44", "45-54", "55-64", "65+"], n),
        "sex": rng.choice(["F", "M"], n),
        "educ": rng.choice(["low", "mid", "high"], n),
        "wage": rng.lognormal(10, 0.6, n),
    })
    df.loc[rng.random(n) < 1 / 20000, "wage"] *= 400
    return df


def median_time(fn, reps: int = 3) -> tuple[float, object]:
    times, out = [], None
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def bench_check(df: pd.DataFrame, acro_python: str | None, reps: int = 3) -> dict:
    """Our 2-D count check against the plain aggregations, interleaved so that load from
    other processes hits all of them alike; medians of ``reps``."""
    con = duckdb.connect()
    con.register("t", df)
    jobs = {
        "duckdb_s": lambda: con.execute("select sector, region, count(*) from t group by all"
                                        ).df(),
        "pandas_s": lambda: pd.crosstab(df.sector, df.region),
        "ours_s": lambda: frequency_table(df, ["sector", "region"], margins=False),
        "ours_margins_s": lambda: frequency_table(df, ["sector", "region"], margins=True),
    }
    for job in jobs.values():  # warm-up: first DuckDB/Arrow calls load code
        job()
    times: dict[str, list[float]] = {k: [] for k in jobs}
    verdict = None
    for _ in range(reps):
        for name, job in jobs.items():
            t = time.perf_counter()
            out = job()
            times[name].append(time.perf_counter() - t)
            verdict = out if name == "ours_s" else verdict
    med = {k: statistics.median(v) for k, v in times.items()}
    res = {"rows": len(df), **med,
           "ratio_vs_duckdb": med["ours_s"] / med["duckdb_s"],
           "ratio_vs_pandas": med["ours_s"] / med["pandas_s"],
           "ratio_margins_vs_duckdb": med["ours_margins_s"] / med["duckdb_s"],
           "status": verdict.status, "failing_cells": len(verdict.failing_cells),
           "input_sha256": verdict.input_sha256}
    if acro_python:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "d.csv"
            df[["sector", "region"]].to_csv(path, index=False)
            out = subprocess.run([acro_python, "-c", ACRO_SCRIPT, str(path)], check=True,
                                 capture_output=True, text=True).stdout.split()
        res |= {"acro_s": float(out[0]), "acro_pandas_s": float(out[1]),
                "acro_ratio_vs_pandas": float(out[0]) / float(out[1])}
    return res


def run_tau(tau_python: str, df: pd.DataFrame, dims: list[str], method: str,
            limit: float) -> dict:
    """One pytauargus run on the same microdata, killed after ``limit`` seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.csv"
        df[[*dims, "wage"]].to_csv(path, index=False)
        try:
            out = subprocess.run([tau_python, "-c", TAU_SCRIPT, str(path), ",".join(dims),
                                  method, TAU_RULES], check=True, capture_output=True,
                                 text=True, timeout=limit)
        except subprocess.TimeoutExpired:
            return {"method": method, "finished": False, "limit_s": limit}
        except subprocess.CalledProcessError as err:
            return {"method": method, "finished": False, "error": err.stderr[-500:]}
    return {"finished": True, **json.loads(out.stdout.strip().splitlines()[-1])}


def bench_protect(df: pd.DataFrame, dims: list[str], budget: float,
                  tau_python: str | None = None, tau_limit: float = 250.0) -> dict:
    """Ours with ACRO's rules (zeros disclosive) and with τ-Argus' (empty cells not primary),
    median of 3, plus pytauargus MOD and OPT on the same rows when given."""
    out: dict = {"rows": len(df), "dims": dims}
    for label, params in (("ours_acro_rules", RuleParams()),
                          ("ours_tau_rules", RuleParams(zeros_disclosive=False))):
        secs, (_cells, res, prob) = median_time(lambda p=params: protect_table(
            df, TableSpec.flat(dims), value="wage", params=p, method="auto",
            time_budget=budget))
        out[label] = {"seconds": secs, **res.summary(prob)}
    if tau_python:
        out["pytauargus"] = [run_tau(tau_python, df, dims, m, tau_limit)
                             for m in ("MOD(1)", "OPT(1)")]
    return out


STAGES = ("check", "risk", "p3", "p4")


def run_stage(stage: str, acro: str | None, tau: str | None = None) -> dict:
    """One benchmark stage; each can run alone because the 4-D protection may not finish."""
    if stage == "check":
        return {"check_2d_1e6": bench_check(synthetic(1_000_000), acro)}
    if stage == "risk":
        big = synthetic(1_000_000)
        big["w"] = 50.0
        keys = ["region", "sector", "agegrp", "sex", "educ"]
        return {"risk_1e6_5keys_s": median_time(lambda: measure_risk(big, keys, weight="w"))[0],
                "suda2_1e6_5keys_s": median_time(lambda: suda2(big, keys))[0]}
    if stage == "p3":
        return {"protect_3d": bench_protect(synthetic(100_000), ["sector", "region", "sex"], 5.0,
                                            tau)}
    return {"protect_4d": bench_protect(synthetic(10_000),
                                        ["sector", "sex", "region", "agegrp"], 30.0, tau)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("stages", nargs="*", help=f"stages to run: {', '.join(STAGES)} (default all)")
    ap.add_argument("--acro", default=os.environ.get("SDWH_ACRO_PYTHON"),
                    help="python with acro installed")
    ap.add_argument("--tau", default=None, help="python with pytauargus installed")
    ap.add_argument("--out", default="benchmarks/results/disclosure.json")
    args = ap.parse_args()
    unknown = set(args.stages) - set(STAGES)
    if unknown:
        ap.error(f"unknown stage(s): {', '.join(sorted(unknown))}")
    machine = f"{platform.machine()} python {platform.python_version()}"
    results: dict = {"machine": machine, "cpus": os.cpu_count(),
                     "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                     "loadavg_start": Path("/proc/loadavg").read_text().split()[:3]}
    for stage in args.stages or STAGES:
        results.update(run_stage(stage, args.acro, args.tau))
    results["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2, default=str))
    json.dump(results, sys.stdout, indent=2, default=str)


if __name__ == "__main__":
    main()
