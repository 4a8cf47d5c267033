"""Benchmark: `sdwh synth` + `sdwh ingest` at a given population size (issue 2).

    .venv/bin/python benchmarks/bench_synth_ingest.py --persons 1000000 --runs 3

Each run uses a fresh SDWH_HOME; reports the median wall time, rows/s and peak RSS of each
step, plus the pseudonymisation throughput measured alone (ingest's pseudonym cache over
distinct INSZ: first sight, then lookups).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _measure import machine, measure

SDWH = str(Path(sys.executable).with_name("sdwh"))


def measure_cpu(cmd: list[str], env: dict[str, str]) -> dict:
    """:func:`measure` plus the command's CPU seconds (user + system, all its threads) and the
    load average before it started: on a shared machine CPU time is the steadier figure."""
    load = Path("/proc/loadavg").read_text().split()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = measure(cmd, env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {**result, "cpu_seconds": round(cpu, 1), "load_before": float(load)}


def one_run(persons: int, seed: int, first: str, last: str, workdir: Path) -> dict:
    home = workdir / f"home-{time.monotonic_ns()}"
    env = {"SDWH_HOME": str(home), "SDWH_TTP_KEY": "5a" * 32}
    synth = measure_cpu([SDWH, "synth", "--persons", str(persons), "--from", first, "--to",
                         last, "--seed", str(seed), "--json"], env)
    ingest = measure_cpu([SDWH, "ingest", "--json"], env)
    summary = json.loads(ingest.pop("stdout"))
    synth.pop("stdout")
    shutil.rmtree(home)
    return {"synth": synth, "ingest": ingest, "rows_in": summary["rows_in"],
            "deliveries": summary["deliveries"]}


def pseudonymisation_rates(n: int = 2_000_000) -> dict[str, int]:
    """Rows/s of ingest's pseudonym cache alone on n distinct 11-digit numbers: first sight
    (HMAC-SHA256 of each) and a second delivery with the same numbers (lookups only)."""
    import pyarrow as pa

    from sdwh.ttp.pseudonym import PseudonymCache

    values = pa.array([f"{i * 7919 % 99999999999:011d}" for i in range(n)])
    cache = PseudonymCache(bytes(32))
    rates = {}
    for label in ("pseudonymisation_rows_per_s", "pseudonym_lookup_rows_per_s"):
        started = time.perf_counter()
        cache.pseudonyms(values)
        rates[label] = round(n / (time.perf_counter() - started))
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--from", dest="first", default="2023Q1")
    ap.add_argument("--to", dest="last", default="2025Q4")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    args = ap.parse_args()
    runs = [one_run(args.persons, args.seed, args.first, args.last, args.workdir)
            for _ in range(args.runs)]
    med = statistics.median
    rows = runs[0]["rows_in"]  # rows of deliveries not rejected whole
    result = {
        "benchmark": "synth+ingest", "machine": machine(), "persons": args.persons,
        "periods": f"{args.first}..{args.last}", "runs": args.runs, "rows_ingested": rows,
        "deliveries": runs[0]["deliveries"],
        "synth_seconds": med(r["synth"]["seconds"] for r in runs),
        "synth_peak_rss_mib": max(r["synth"]["peak_rss_mib"] for r in runs),
        "synth_cpu_seconds": med(r["synth"]["cpu_seconds"] for r in runs),
        "ingest_seconds": med(r["ingest"]["seconds"] for r in runs),
        "ingest_peak_rss_mib": max(r["ingest"]["peak_rss_mib"] for r in runs),
        "ingest_cpu_seconds": med(r["ingest"]["cpu_seconds"] for r in runs),
        **pseudonymisation_rates(),
        "all_runs": runs,
    }
    result["total_seconds"] = round(result["synth_seconds"] + result["ingest_seconds"], 2)
    result["ingest_rows_per_s"] = round(rows / result["ingest_seconds"])
    out = Path(__file__).parent / "results" / f"synth_ingest_{args.persons}.json"
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "all_runs"}, indent=2))


if __name__ == "__main__":
    main()
