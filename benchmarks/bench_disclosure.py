"""Disclosure benchmarks (issue 4): median of 3 wall-clock runs, peak RSS of this process.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_disclosure.py [--acro PATH_TO_PYTHON]
Synthetic data follow the SDC report's generator (7 regions incl. a 1 % BRU, 21 NACE
sections Zipf 1.3, 6 age groups, lognormal wages with rare ×400 "CEOs").
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


def bench_check(df: pd.DataFrame, acro_python: str | None) -> dict:
    con = duckdb.connect()
    con.register("t", df)
    plain_duck, _ = median_time(lambda: con.execute(
        "select sector, region, count(*) from t group by all").df())
    plain_pd, _ = median_time(lambda: pd.crosstab(df.sector, df.region))
    ours, verdict = median_time(lambda: frequency_table(df, ["sector", "region"], margins=False))
    res = {"rows": len(df), "ours_s": ours, "duckdb_s": plain_duck, "pandas_s": plain_pd,
           "ratio_vs_duckdb": ours / plain_duck, "ratio_vs_pandas": ours / plain_pd,
           "status": verdict.status, "failing_cells": len(verdict.failing_cells)}
    if acro_python:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "d.csv"
            df[["sector", "region"]].to_csv(path, index=False)
            out = subprocess.run([acro_python, "-c", ACRO_SCRIPT, str(path)], check=True,
                                 capture_output=True, text=True).stdout.split()
        res |= {"acro_s": float(out[0]), "acro_pandas_s": float(out[1]),
                "acro_ratio_vs_pandas": float(out[0]) / float(out[1])}
    return res


def bench_protect(df: pd.DataFrame, dims: list[str], budget: float) -> dict:
    params = RuleParams()
    secs, (_cells, res, prob) = median_time(lambda: protect_table(
        df, TableSpec.flat(dims), value="wage", params=params, method="auto",
        time_budget=budget))
    return {"rows": len(df), "dims": dims, "seconds": secs, **res.summary(prob),
            "audit_seconds": res.audit.seconds}


STAGES = ("check", "risk", "p3", "p4")


def run_stage(stage: str, acro: str | None) -> dict:
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
        return {"protect_3d": bench_protect(synthetic(100_000), ["sector", "region", "sex"], 5.0)}
    return {"protect_4d": bench_protect(synthetic(10_000),
                                        ["sector", "sex", "region", "agegrp"], 30.0)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("stages", nargs="*", help=f"stages to run: {', '.join(STAGES)} (default all)")
    ap.add_argument("--acro", default=os.environ.get("SDWH_ACRO_PYTHON"),
                    help="python with acro installed")
    ap.add_argument("--out", default="benchmarks/results/disclosure.json")
    args = ap.parse_args()
    unknown = set(args.stages) - set(STAGES)
    if unknown:
        ap.error(f"unknown stage(s): {', '.join(sorted(unknown))}")
    machine = f"{platform.machine()} python {platform.python_version()}"
    results: dict = {"machine": machine, "cpus": os.cpu_count()}
    for stage in args.stages or STAGES:
        results.update(run_stage(stage, args.acro))
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2, default=str))
    json.dump(results, sys.stdout, indent=2, default=str)


if __name__ == "__main__":
    main()
