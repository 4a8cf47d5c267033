"""Enclave hub: start, spawn and first-query times; N concurrent researcher sessions.

Run as root, under the shared lock:

    flock /tmp/sdwh-bench.lock .venv/bin/python benchmarks/bench_hub.py --sessions 10

Each simulated researcher is a real system account with a real sandboxed server (network and
mount namespaces) that logs in with password + TOTP, starts its project's server, starts a
kernel and runs ``project.sql`` on the extract through the enclave proxy. Memory per session is
the resident memory of every process in the session's network namespace (server + kernel).
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


def session_rss_mib(username: str) -> float:
    """Resident memory of all processes of ``username``'s servers (server + kernels)."""
    import pwd

    uid = pwd.getpwnam(username).pw_uid
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields.get("Uid", "-1").split()[0]) == uid and "VmRSS" in fields:
            total += int(fields["VmRSS"].split()[0])
    return round(total / 1024, 1)


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
        result = client.call(client.execute(project, QUERY, timeout=600))
        if result["error"] or "ROWS" not in result["stdout"]:
            raise RuntimeError(f"{username}: {result}")
        t_result = time.monotonic()
        rss = session_rss_mib(username)
        return {"user": username, "login_s": round(t_login - t0, 2),
                "spawn_s": round(t_spawn - t_login, 2),
                "first_query_s": round(t_result - t_spawn, 2),
                "time_to_first_result_s": round(t_result - t0, 2), "session_rss_mib": rss}
    finally:
        client.close()


async def concurrent(hub_url: str, users: list[str], secrets: dict, used: dict,
                     project: str) -> list[dict]:
    return await asyncio.gather(*(asyncio.to_thread(
        researcher_session, hub_url, u, secrets[u], used, project) for u in users))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    if kit.can_isolate():
        sys.exit(f"cannot run: {kit.can_isolate()}")
    home = Path(tempfile.mkdtemp(prefix="sdwh-bench-hub-"))
    os.chmod(home, 0o700)
    settings = Settings(home=home)
    names = [f"bh{os.getpid() % 1000:03d}{i:02d}" for i in range(args.sessions + 1)]
    accounts = kit.OsAccounts()
    hub = None
    try:
        for name in names:
            accounts.add(name)
        kit.make_project(settings, "bench-hub", names, rows=args.rows)
        secrets = {name: kit.enrol(settings, name) for name in names}
        used: dict[str, int] = {}
        load_before = Path("/proc/loadavg").read_text().split()[:3]
        hub = kit.start_hub(home)
        single = researcher_session(hub.url, names[0], secrets[names[0]], used, "bench-hub")
        started = time.monotonic()
        sessions = asyncio.run(concurrent(hub.url, names[1:], secrets, used, "bench-hub"))
        wall = time.monotonic() - started
        load_after = Path("/proc/loadavg").read_text().split()[:3]
        ttfr = [s["time_to_first_result_s"] for s in sessions]
        rss = [s["session_rss_mib"] for s in sessions]
        report = {
            "machine": machine(), "extract_rows": args.rows, "hub_start_s": round(
                hub.started_in, 2),
            "single": single,
            "concurrent": {
                "sessions": args.sessions, "wall_s": round(wall, 2),
                "time_to_first_result_s": {"median": statistics.median(ttfr),
                                           "max": max(ttfr), "min": min(ttfr)},
                "session_rss_mib": {"median": statistics.median(rss), "max": max(rss)},
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
