"""Benchmark the policy-service API: latency and throughput under concurrent clients.

    flock /tmp/sdwh-bench.lock .venv/bin/python benchmarks/bench_api.py \
        --warehouse /tmp/shared-6900k-wh/warehouse/sdwh.duckdb --home /tmp/apibench-home

Steps: `sdwh api build` from the warehouse (opened read-only) under /usr/bin/time -v; a token;
`sdwh serve api` on a free loopback port; then, for 1, 10, 20 and 50 concurrent clients
(asyncio streams, one keep-alive connection each, in this process), each scenario runs for
``--seconds`` after a warm-up:

* ``cached_cube`` — eight typical table-builder requests, repeated (answers from the cache);
* ``municipality_quarter`` — a municipality × quarter table (persons, working, employment
  rate) computed from the product cube on every request (a server with the cache off);
* ``random_table`` — a fresh random table (dims, levels, filters) per request, cache off;
* ``sql`` — a guarded SQL aggregate over a published table (SQL answers are never cached).

Also timed once: the same municipality × quarter table computed straight from the 140 M-row
panel with record keys (what the cubes save). Every run records the load average and the CPU
seconds (user + system) of the server and of the client process, since the machine is shared.
``--build-only`` and ``--skip-build`` split the work into two shorter holds of the benchmark
lock. Prints one JSON object; writes it to benchmarks/results/api_<persons>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

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
    cpu = sum(float(m.group(1)) for m in re.finditer(
        r"(?:User|System) time \(seconds\): ([\d.]+)", out.stderr))
    payload = json.loads([x for x in out.stdout.splitlines() if x.startswith("{")][-1])
    return {"wall_s": round(wall, 2), "peak_rss_mib": int(rss.group(1)) // 1024 if rss else None,
            "cpu_s": round(cpu, 1), "json": payload}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`sdwh serve api` in its own process group, stopped on exit."""

    def __init__(self, env: dict[str, str], cache: bool, workers: int = 1) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**env, "SDWH_API_CACHE_ENTRIES": "4096" if cache else "0",
               "SDWH_API_WORKERS": str(workers)}
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

    def _group(self) -> list[Path]:
        """/proc entries of the server's processes (its session: the workers too)."""
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[3]) == self.proc.pid:  # session = the server's pid
                    found.append(entry)
        return found

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the server's processes so far."""
        ticks = 0
        for entry in self._group():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def peak_rss_mib(self) -> int:
        """Peak resident memory, summed over the server's processes."""
        total = 0
        for entry in self._group():
            hwm = re.search(r"VmHWM:\s+(\d+)", (entry / "status").read_text())
            total += int(hwm.group(1)) if hwm else 0
        return total // 1024

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


class Connection:
    """One keep-alive HTTP/1.1 connection that sends prepared request bytes and reads the answer
    by its Content-Length. The httpx client this replaces spent more CPU than the server
    (5.3 CPU s against the server's 3.3 s for 1,173 cached answers at 20 clients, 1 M
    persons), so on two shared cores the figures measured the client; each run records the
    client's CPU seconds (``client_cpu_s``) beside the server's."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        if length is None:
            raise RuntimeError(f"answer without Content-Length: {head[:200]!r}")
        await self.reader.readexactly(int(length.group(1)))
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def raw_request(method: str, host: str, target: str, token: str,
                body: bytes | None = None) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", f"Authorization: Bearer {token}"]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


def client_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def load(url: str, token: str, clients: int, seconds: float, scenario: str,
               quarters: list[str], seed: int) -> dict[str, Any]:
    parts = httpx.URL(url)
    host = f"{parts.host}:{parts.port}"
    path = "/v1/products/labour_market_position/table"
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds
    sql = raw_request("POST", host, "/v1/sql", token, json.dumps({"query": SQL}).encode())
    cached = [raw_request("GET", host, f"{path}?{urlencode(c)}", token) for c in CACHED]
    muni = raw_request("GET", host, f"{path}?{urlencode(MUNI_QUARTER)}", token)

    async def worker(i: int) -> None:
        nonlocal errors
        rng = random.Random(seed * 1000 + i)
        conn = Connection(parts.host, parts.port)
        n = 0
        try:
            while time.perf_counter() < stop_at:
                raw = (sql if scenario == "sql" else cached[(i + n) % len(cached)]
                       if scenario == "cached_cube" else muni
                       if scenario == "municipality_quarter" else raw_request(
                           "GET", host, f"{path}?{urlencode(random_table(rng, quarters))}",
                           token))
                started = time.perf_counter()
                status = await conn.request(raw)
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    errors += 1
                n += 1
        finally:
            conn.close()

    load_before = loadavg()
    cpu_before = client_cpu_seconds()
    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(clients)))
    wall = time.perf_counter() - started
    cpu_client = client_cpu_seconds() - cpu_before
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return {"scenario": scenario, "clients": clients, "requests": len(latencies),
            "errors": errors, "p50_ms": round(q[49] * 1000, 1), "p95_ms": round(q[94] * 1000, 1),
            "p99_ms": round(q[98] * 1000, 1), "throughput_rps": round(len(latencies) / wall, 1),
            "wall_s": round(wall, 2), "client_cpu_s": round(cpu_client, 2),
            "loadavg_before": load_before, "loadavg_after": loadavg()}


def direct_from_panel(warehouse: Path, threads: int) -> dict[str, Any]:
    """The municipality × quarter table straight from the panel, with record keys: one run."""
    import duckdb

    from sdwh.query.cellkeys import MODULUS, hmac_pads, record_key_sql

    ipad, opad = hmac_pads(bytes(32))
    con = duckdb.connect(str(warehouse), read_only=True)
    con.execute(f"SET threads = {threads}")
    started = time.perf_counter()
    # fetch the cells themselves: an outer count(*) alone lets DuckDB drop the key sums
    n = len(con.execute(
        "SELECT quarter, municipality_refnis, count(*) AS n, "
        f"sum({record_key_sql('person_id')}) % {MODULUS} AS k "
        "FROM thematic.thm_labour_market_panel GROUP BY ALL",
        {"ipad": ipad, "opad": opad}).fetchall())
    return {"cells": n, "seconds": round(time.perf_counter() - started, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warehouse", type=Path,
                    default=Path("/tmp/shared-6900k-wh/warehouse/sdwh.duckdb"))
    ap.add_argument("--home", type=Path, default=Path("/tmp/apibench-home"))
    ap.add_argument("--clients", default="1,10,20,50")
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--scenarios", default="cached_cube,municipality_quarter,random_table,sql")
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--build-only", action="store_true",
                    help="run `sdwh api build` (and the direct panel query) only")
    ap.add_argument("--skip-direct", action="store_true")
    ap.add_argument("--workers", type=int, default=1, help="SDWH_API_WORKERS of the server")
    ap.add_argument("--tag", default="", help="results file name api_<tag>.json "
                                              "(default: the number of persons)")
    args = ap.parse_args()
    env = {**os.environ, "SDWH_HOME": str(args.home), "SDWH_API_WAREHOUSE": str(args.warehouse),
           "SDWH_API_RATE_LIMIT": "100000000"}
    result: dict[str, Any] = {"machine": machine(), "warehouse": str(args.warehouse),
                              "command": " ".join(sys.argv), "workers": args.workers,
                              "loadavg_start": loadavg()}
    if not args.skip_build:
        built = run_cli(["api", "build"], env)
        result["build"] = {"wall_s": built["wall_s"], "peak_rss_mib": built["peak_rss_mib"],
                           "cpu_s": built["cpu_s"], "persons": built["json"]["persons"],
                           "step_seconds": built["json"].get("step_seconds"),
                           "cube_cells": built["json"]["products"],
                           "published_rows": built["json"]["published"]}
    cubes = args.home / "query" / "cubes.duckdb"
    result["cube_file_mib"] = round(cubes.stat().st_size / 2**20, 1)
    runs = []
    scenarios = [] if args.build_only else args.scenarios.split(",")
    token = run_cli(["api", "token", "create", "Benchmark", "--role", "tables", "--role", "sql"],
                    env)["json"]["token"] if scenarios else ""
    for cache in (True, False):
        wanted = [s for s in scenarios if (s == "cached_cube") == cache]
        if not wanted:
            continue
        server = Server(env, cache=cache, workers=args.workers)
        try:
            quarters = httpx.get(f"{server.url}/v1/products", headers={
                "Authorization": f"Bearer {token}"}).json()["quarters"]
            for scenario in wanted:
                asyncio.run(load(server.url, token, 2, 2.0, scenario, quarters, 0))  # warm-up
                for clients in (int(c) for c in args.clients.split(",")):
                    cpu_before = server.cpu_seconds()
                    run = asyncio.run(load(server.url, token, clients, args.seconds, scenario,
                                           quarters, clients))
                    run["server_cpu_s"] = round(server.cpu_seconds() - cpu_before, 2)
                    run["cache"] = cache
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
    tag = args.tag or str(result.get("build", {}).get("persons", "x"))
    out = ROOT / "benchmarks" / "results" / f"api_{tag}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
