"""Enclave hub: start, spawn and first-query times; N concurrent researcher sessions.

Run as root, under the shared lock:

    flock /tmp/sdwh-bench.lock .venv/bin/python benchmarks/bench_hub.py --sessions 10

Each simulated researcher is a real system account with a real sandboxed server (network and
mount namespaces) that logs in with password + TOTP, starts its project's server, starts a
kernel and runs ``project.sql`` on the extract through the enclave proxy. First
``--single-runs`` times: start the hub and let one researcher work alone (hub start, spawn and
first-query times; medians). Then ``--sessions`` researchers at once on the last hub (time to
first result each). Memory and CPU per session are those of every process of the
researcher's account (single-user server + kernel), read from /proc when the first result
arrives.
Writes benchmarks/results/hub.json and prints it. Talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
sys.path.insert(0, str(REPO / "benchmarks"))

import enclave_kit as kit  # noqa: E402
from _measure import machine  # noqa: E402

from sdwh.config import Settings  # noqa: E402

QUERY = ("from sdwh.enclave import project\n"
         "df = project.sql('select quarter, age_band, count(distinct person_id) as persons "
         "from thm_labour_market_panel group by all order by all')\nprint('ROWS', len(df))")


def session_usage(username: str) -> tuple[float, float, int]:
    """Resident memory (MiB), CPU seconds so far and process count of ``username``'s
    processes (the single-user server and its kernels run under the researcher's account)."""
    import pwd

    uid = pwd.getpwnam(username).pw_uid
    rss_kib, ticks, count = 0, 0, 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields.get("Uid", "-1").split()[0]) == uid and "VmRSS" in fields:
            rss_kib += int(fields["VmRSS"].split()[0])
            utime, stime = stat.rpartition(")")[2].split()[11:13]
            ticks += int(utime) + int(stime)
            count += 1
    return round(rss_kib / 1024, 1), round(ticks / os.sysconf("SC_CLK_TCK"), 2), count


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its waited-for children (the hub and what it reaped)."""
    stat = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return round(sum(int(v) for v in stat[11:15]) / os.sysconf("SC_CLK_TCK"), 2)


def researcher_session(hub_url: str, username: str, secret: str, used: dict, project: str
                       ) -> dict:
    """Log in, spawn, first query; the times a researcher waits."""
    client = kit.Client(hub_url, username)
    try:
        t0 = time.monotonic()
        assert client.call(client.login(kit.PASSWORD, kit.fresh_code(secret, used))) == 302
        client.call(client.make_token())
        t_login = time.monotonic()
        status, state = client.call(client.spawn(project, timeout=600))
        if state != "ready":
            raise RuntimeError(f"{username}: spawn {status} {state}")
        t_spawn = time.monotonic()
        result = client.call(client.execute(project, QUERY, timeout=600, keep_kernel=True))
        if result["error"] or "ROWS" not in result["stdout"]:
            raise RuntimeError(f"{username}: {result}")
        t_result = time.monotonic()
        rss, cpu, processes = session_usage(username)  # server + the kernel that answered
        client.call(client.shutdown(project, result["kernel"]))
        return {"user": username, "login_s": round(t_login - t0, 2),
                "spawn_s": round(t_spawn - t_login, 2),
                "first_query_s": round(t_result - t_spawn, 2),
                "time_to_first_result_s": round(t_result - t0, 2), "session_rss_mib": rss,
                "session_cpu_s": cpu, "session_processes": processes}
    finally:
        client.close()


async def concurrent(hub_url: str, users: list[str], secrets: dict, used: dict,
                     project: str) -> list[dict]:
    return await asyncio.gather(*(asyncio.to_thread(
        researcher_session, hub_url, u, secrets[u], used, project) for u in users))


def median_of(runs: list[dict], key: str) -> float:
    return round(statistics.median(r[key] for r in runs), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--single-runs", type=int, default=3,
                        help="hub starts, each followed by one researcher alone (medians)")
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    if kit.can_isolate():
        sys.exit(f"cannot run: {kit.can_isolate()}")
    home = Path(tempfile.mkdtemp(prefix="sdwh-bench-hub-"))
    os.chmod(home, 0o700)
    settings = Settings(home=home)
    names = [f"bh{os.getpid() % 1000:03d}{i:02d}"
             for i in range(args.single_runs + args.sessions)]
    singles, crowd = names[:args.single_runs], names[args.single_runs:]
    accounts = kit.OsAccounts()
    hub = None
    try:
        for name in names:
            accounts.add(name)
        kit.make_project(settings, "bench-hub", names, rows=args.rows)
        secrets = {name: kit.enrol(settings, name) for name in names}
        used: dict[str, int] = {}
        load_before = Path("/proc/loadavg").read_text().split()[:3]
        single_runs = []
        for i, name in enumerate(singles):  # hub start, then one researcher alone
            hub = kit.start_hub(home, timeout=600)
            run = researcher_session(hub.url, name, secrets[name], used, "bench-hub")
            single_runs.append({"hub_start_s": round(hub.started_in, 2), **run,
                                "loadavg": Path("/proc/loadavg").read_text().split()[:3]})
            if i < len(singles) - 1:
                hub.stop()
        hub_cpu_before = process_cpu_seconds(hub.process.pid)
        started = time.monotonic()
        sessions = asyncio.run(concurrent(hub.url, crowd, secrets, used, "bench-hub"))
        wall = time.monotonic() - started
        hub_cpu = round(process_cpu_seconds(hub.process.pid) - hub_cpu_before, 2)
        load_after = Path("/proc/loadavg").read_text().split()[:3]
        ttfr = [s["time_to_first_result_s"] for s in sessions]
        rss = [s["session_rss_mib"] for s in sessions]
        report = {
            "machine": machine(), "extract_rows": args.rows,
            "single": {"runs": len(single_runs),
                       **{f"median_{k}": median_of(single_runs, k) for k in (
                           "hub_start_s", "login_s", "spawn_s", "first_query_s",
                           "time_to_first_result_s", "session_rss_mib", "session_cpu_s")},
                       "per_run": single_runs},
            "concurrent": {
                "sessions": len(crowd), "wall_s": round(wall, 2),
                "time_to_first_result_s": {"median": statistics.median(ttfr),
                                           "max": max(ttfr), "min": min(ttfr)},
                "spawn_s_median": median_of(sessions, "spawn_s"),
                "first_query_s_median": median_of(sessions, "first_query_s"),
                "session_rss_mib": {"median": statistics.median(rss), "max": max(rss),
                                    "total": round(sum(rss), 1)},
                "session_cpu_s_total": round(sum(s["session_cpu_s"] for s in sessions), 2),
                "hub_cpu_s": hub_cpu,
                "per_session": sessions},
            "loadavg_before": load_before, "loadavg_after": load_after,
        }
        out = REPO / "benchmarks" / "results" / "hub.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(report, indent=2))
        print(json.dumps(report, indent=2))
    finally:
        if hub is not None:
            hub.stop()
        accounts.remove()
        kit.cleanup_home(home)


if __name__ == "__main__":
    main()
