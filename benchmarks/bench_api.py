"""Benchmark the policy-service API: latency and throughput under concurrent clients.

    flock /tmp/sdwh-bench.lock .venv/bin/python benchmarks/bench_api.py \
        --warehouse /tmp/shared-6900k/warehouse/sdwh.duckdb --home /tmp/apibench-home

Steps: `sdwh api build` from the warehouse (opened read-only) under /usr/bin/time -v; a token;
`sdwh serve api` on a free loopback port; then, for 1, 10, 20 and 50 concurrent clients
(asyncio + httpx, one keep-alive connection each, in this process), each scenario runs for
``--seconds`` after a warm-up:

* ``cached_cube`` — eight typical table-builder requests, repeated (answers from the cache);
* ``municipality_quarter`` — a municipality × quarter table (persons, working, employment
  rate) computed from the product cube on every request (a server with the cache off);
* ``random_table`` — a fresh random table (dims, levels, filters) per request, cache off;
* ``sql`` — a guarded SQL aggregate over a published table (SQL answers are never cached).

Also timed once: the same municipality × quarter table computed straight from the 140 M-row
panel with record keys (what the cubes save). Prints one JSON object; writes it to
benchmarks/results/api_<persons>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._measure import machine  # noqa: E402

CACHED = [
    {"dims": "quarter,geo:province,sex", "measures": "persons,working,employment_rate_pct",
     "totals": "true"},
    {"dims": "quarter,geo:municipality", "measures": "persons,working,employment_rate_pct"},
    {"dims": "quarter,position:main_group,age:age_group", "totals": "true"},
    {"dims": "quarter,geo:arrondissement,sex,age:age_band", "measures": "persons,unemployed"},
    {"dims": "quarter,education,sex", "measures": "persons,nwwz", "format": "csv"},
    {"dims": "quarter,geo:province", "measures": "persons", "format": "jsonstat"},
    {"dims": "quarter,position", "filter": "geo:province=10000"},
    {"dims": "quarter,sex,age:age_group", "measures": "working", "totals": "true"},
]
MUNI_QUARTER = {"dims": "quarter,geo:municipality", "measures": "persons,working,"
                "employment_rate_pct"}
SQL = ("SELECT quarter, sum(persons) AS persons, sum(working) AS working FROM "
       "employment_by_municipality WHERE geo LIKE '1%' GROUP BY quarter ORDER BY quarter")


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def run_cli(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    started = time.perf_counter()
    out = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-m", "sdwh", *args, "--json"],
                         env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if out.returncode != 0:
        raise RuntimeError(out.stdout[-3000:] + out.stderr[-3000:])
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr)
    payload = json.loads([x for x in out.stdout.splitlines() if x.startswith("{")][-1])
    return {"wall_s": round(wall, 2), "peak_rss_mib": int(rss.group(1)) // 1024 if rss else None,
            "json": payload}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`sdwh serve api` in its own process group, stopped on exit."""

    def __init__(self, env: dict[str, str], cache: bool) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**env, "SDWH_API_CACHE_ENTRIES": "4096" if cache else "0"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sdwh", "serve", "api", "--port", str(self.port)], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.5)
            if self.proc.poll() is not None:
                raise RuntimeError("the API server died at start")
        raise RuntimeError("the API server did not start within 300 s")

    def peak_rss_mib(self) -> int:
        text = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+)", text).group(1)) // 1024

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def random_table(rng: random.Random, quarters: list[str]) -> dict[str, str]:
    dims = ["quarter"]
    choices = {"geo": ["municipality", "arrondissement", "province", "region"],
               "sex": ["sex"], "age": ["age_band", "age_group"],
               "position": ["position", "main_group"], "education": ["education"]}
    for dim in rng.sample(sorted(choices), rng.randint(1, 2)):
        level = rng.choice(choices[dim])
        dims.append(dim if level == dim else f"{dim}:{level}")
    q = rng.sample(quarters, rng.randint(1, min(4, len(quarters))))
    return {"dims": ",".join(dims), "filter": "quarter=" + ",".join(sorted(q)),
            "totals": rng.choice(["true", "false"])}


async def load(url: str, token: str, clients: int, seconds: float, scenario: str,
               quarters: list[str], seed: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds
    path = f"{url}/v1/products/labour_market_position/table"

    async def worker(i: int) -> None:
        nonlocal errors
        rng = random.Random(seed * 1000 + i)
        async with httpx.AsyncClient(headers=headers, timeout=120) as client:
            n = 0
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                if scenario == "sql":
                    r = await client.post(f"{url}/v1/sql", json={"query": SQL})
                else:
                    params = (CACHED[(i + n) % len(CACHED)] if scenario == "cached_cube"
                              else MUNI_QUARTER if scenario == "municipality_quarter"
                              else random_table(rng, quarters))
                    r = await client.get(path, params=params)
                latencies.append(time.perf_counter() - started)
                if r.status_code != 200:
                    errors += 1
                n += 1

    load_before = loadavg()
    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(clients)))
    wall = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return {"scenario": scenario, "clients": clients, "requests": len(latencies),
            "errors": errors, "p50_ms": round(q[49] * 1000, 1), "p95_ms": round(q[94] * 1000, 1),
            "p99_ms": round(q[98] * 1000, 1), "throughput_rps": round(len(latencies) / wall, 1),
            "loadavg_before": load_before, "loadavg_after": loadavg()}


def direct_from_panel(warehouse: Path, threads: int) -> dict[str, Any]:
    """The municipality × quarter table straight from the panel, with record keys: one run."""
    import duckdb

    from sdwh.query.cellkeys import MODULUS, hmac_pads, record_key_sql

    ipad, opad = hmac_pads(bytes(32))
    con = duckdb.connect(str(warehouse), read_only=True)
    con.execute(f"SET threads = {threads}")
    started = time.perf_counter()
    n = con.execute(
        "SELECT count(*) FROM (SELECT quarter, municipality_refnis, count(*) AS n, "
        f"sum({record_key_sql('person_id')}) % {MODULUS} AS k "
        "FROM thematic.thm_labour_market_panel GROUP BY ALL)",
        {"ipad": ipad, "opad": opad}).fetchone()[0]
    return {"cells": n, "seconds": round(time.perf_counter() - started, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warehouse", type=Path,
                    default=Path("/tmp/shared-6900k/warehouse/sdwh.duckdb"))
    ap.add_argument("--home", type=Path, default=Path("/tmp/apibench-home"))
    ap.add_argument("--clients", default="1,10,20,50")
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--scenarios", default="cached_cube,municipality_quarter,random_table,sql")
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--skip-direct", action="store_true")
    args = ap.parse_args()
    env = {**os.environ, "SDWH_HOME": str(args.home), "SDWH_API_WAREHOUSE": str(args.warehouse),
           "SDWH_API_RATE_LIMIT": "100000000"}
    result: dict[str, Any] = {"machine": machine(), "warehouse": str(args.warehouse),
                              "command": " ".join(sys.argv), "loadavg_start": loadavg()}
    if not args.skip_build:
        built = run_cli(["api", "build"], env)
        result["build"] = {"wall_s": built["wall_s"], "peak_rss_mib": built["peak_rss_mib"],
                           "persons": built["json"]["persons"],
                           "cube_cells": built["json"]["products"],
                           "published_rows": built["json"]["published"]}
    token = run_cli(["api", "token", "create", "Benchmark", "--role", "tables", "--role", "sql"],
                    env)["json"]["token"]
    cubes = args.home / "query" / "cubes.duckdb"
    result["cube_file_mib"] = round(cubes.stat().st_size / 2**20, 1)
    runs = []
    scenarios = args.scenarios.split(",")
    for cache in (True, False):
        wanted = [s for s in scenarios if (s == "cached_cube") == cache]
        if not wanted:
            continue
        server = Server(env, cache=cache)
        try:
            quarters = httpx.get(f"{server.url}/v1/products", headers={
                "Authorization": f"Bearer {token}"}).json()["quarters"]
            for scenario in wanted:
                asyncio.run(load(server.url, token, 2, 2.0, scenario, quarters, 0))  # warm-up
                for clients in (int(c) for c in args.clients.split(",")):
                    run = asyncio.run(load(server.url, token, clients, args.seconds, scenario,
                                           quarters, clients))
                    runs.append(run)
                    print(json.dumps(run), file=sys.stderr, flush=True)
            result[f"server_peak_rss_mib_cache_{'on' if cache else 'off'}"] = \
                server.peak_rss_mib()
        finally:
            server.stop()
    result["runs"] = runs
    if not args.skip_direct:
        result["direct_from_panel"] = direct_from_panel(args.warehouse, 2)
    result["loadavg_end"] = loadavg()
    persons = result.get("build", {}).get("persons", "x")
    out = ROOT / "benchmarks" / "results" / f"api_{persons}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
