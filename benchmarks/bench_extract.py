"""A Flanders-scale project extract from an existing warehouse (target ≤ 60 s).

Records a project on the labour-market panel (8 variables, the quarters given) in a scratch
data root, then runs ``sdwh project extract --warehouse W`` under ``/usr/bin/time -v``; the
warehouse is only opened read-only (a dbt-built one is read through its views; nothing is
written next to it). Prints one JSON object (median of the runs, each run's wall time, CPU
seconds, peak RSS, rows and persons extracted, the load average around each run, and the
extract's ``steps``: seconds per dataset and its phases — ``persons`` (HMAC and numbering),
``sorted`` (until the first sorted rows), ``written`` (the streamed write), with the busy
seconds of the ``preparing`` and ``encoding`` threads — and for the risk report).

    flock /tmp/sdwh-bench.lock .venv/bin/python benchmarks/bench_extract.py \\
        --warehouse /tmp/cost-6900k/warehouse/sdwh.duckdb --from 2024Q1 --to 2025Q4 \\
        --home /tmp/extract-c/bench-home-real

Without a dbt-built warehouse at that scale, ``--synthetic-persons 6900000`` first writes a
warehouse file holding only ``thematic.thm_labour_market_panel`` (the panel's 22 columns,
random values, persons × the quarters asked; not timed) and extracts from it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import machine, measure

VARIABLES = ["age", "sex_code", "municipality_refnis", "education_level_3", "sep_seq",
             "is_working", "is_unemployed", "unemployment_duration_class"]


def setup(home: Path, period_from: str, period_to: str, key: Path | None = None) -> None:
    from sdwh.config import Settings
    from sdwh.projects.keys import key_path
    from sdwh.projects.registry import Registry

    _remove(home)
    home.mkdir(parents=True)
    os.environ["SDWH_HOME"] = str(home)
    reg = Registry(Settings())
    reg.create("staff1", id="flanders", title="Flanders-scale benchmark", organisation="VSA",
               legal_basis="art. 5", accredited=["alice"], datasets=["thm_labour_market_panel"],
               variables=VARIABLES, period_from=period_from, period_to=period_to,
               start_date=date(2026, 1, 1), end_date=date(2099, 1, 1),
               retention_until=date(2099, 1, 1))
    reg.approve("flanders", "staff2", "D/1")
    reg.activate("flanders", "staff2")
    if key is not None:  # the same project key in two sets: the same pseudonyms, same bytes
        target = key_path(Settings(), "flanders")
        for folder in (target.parent.parent, target.parent):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        target.write_text(key.read_text())
        target.chmod(0o600)


def _remove(path: Path) -> None:
    if path.exists():
        for folder, dirs, _ in os.walk(path):
            for d in dirs:
                os.chmod(Path(folder) / d, 0o755)
        os.chmod(path, 0o755)
        shutil.rmtree(path)


def synthetic_warehouse(path: Path, persons: int, quarters: list[str]) -> None:
    """A warehouse file with only the panel, shaped like the dbt model (values from hashes).

    One INSERT per quarter keeps memory flat (a single 55 M-row statement with ORDER BY was
    killed by the OOM killer at 18 GB); person attributes come from hash(i), so they stay
    the same across quarters, and positions from hash(i, quarter).
    """
    import duckdb

    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    con.execute("set memory_limit = '3GB'")
    con.execute(f"set temp_directory = '{path.parent / 'tmp'}'")
    con.execute("create schema thematic")
    first = True
    for quarter in quarters:
        year, q = int(quarter[:4]), int(quarter[-1])
        select = f"""
            select lpad(to_hex(hash(i)), 16, '0') || lpad(to_hex(i), 16, '0') as person_id,
                   '{quarter}' as quarter,
                   last_day(make_date({year}, {q * 3}, 1)) as quarter_end_date,
                   (hash(i) % 90)::int as age, ((hash(i) % 90) // 5 * 5)::varchar as age_band,
                   if(hash(i, 1) % 2 = 0, 'F', 'M') as sex_code,
                   (10000 + (hash(i, 2) % 300) * 100)::varchar as municipality_refnis,
                   left((10000 + (hash(i, 2) % 300) * 100)::varchar, 2) || '000'
                       as arrondissement_refnis,
                   left((10000 + (hash(i, 2) % 300) * 100)::varchar, 1) || '0000'
                       as province_refnis,
                   ['belgian', 'eu', 'non_eu'][1 + (hash(i, 3) % 3)::int] as nationality_group,
                   ['belgian', 'eu', 'non_eu'][1 + (hash(i, 3) % 3)::int] as origin_group,
                   ['low', 'medium', 'high', 'unknown'][1 + (hash(i, 4) % 4)::int]
                       as education_level_3,
                   lpad((1 + hash(i, '{quarter}') % 19)::varchar, 2, '0') as sep_seq,
                   'label' as sep_label_nl, (1 + hash(i, '{quarter}') % 4)::int as sep_main_group,
                   'groep' as sep_main_group_nl, hash(i, '{quarter}') % 10 < 7 as is_working,
                   hash(i, '{quarter}') % 10 = 1 as is_self_employed_main_job,
                   hash(i, '{quarter}') % 5 = 2 as is_parttime_employee,
                   hash(i, '{quarter}') % 20 = 3 as is_nwwz,
                   hash(i, '{quarter}') % 20 = 4 as is_unemployed,
                   ['<6m', '6-12m', '>12m', null][1 + (hash(i, '{quarter}') % 4)::int]
                       as unemployment_duration_class
            from range({persons}) t(i)"""
        if first:
            con.execute(f"create table thematic.thm_labour_market_panel as {select}")
            first = False
        else:
            con.execute(f"insert into thematic.thm_labour_market_panel {select}")
    con.close()


def quarters_between(first: str, last: str) -> list[str]:
    out, (y, q) = [], (int(first[:4]), int(first[-1]))
    while f"{y}Q{q}" <= last:
        out.append(f"{y}Q{q}")
        y, q = (y + 1, 1) if q == 4 else (y, q + 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warehouse", type=Path)
    parser.add_argument("--synthetic-persons", type=int)
    parser.add_argument("--home", type=Path, default=Path("/tmp/sdwh-bench-extract"))
    parser.add_argument("--from", dest="period_from", default="2024Q1")
    parser.add_argument("--to", dest="period_to", default="2025Q4")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep-synthetic", type=Path, metavar="DIR",
                        help="keep the synthetic warehouse in DIR and reuse it when it was "
                             "made for the same persons and quarters")
    parser.add_argument("--project-key", type=Path, metavar="FILE",
                        help="use this project key (64 hex characters) instead of a new random "
                             "one, so that two sets (before/after) must write the same bytes")
    args = parser.parse_args()
    synthetic = None
    if args.warehouse is None:
        if not args.synthetic_persons:
            parser.error("give --warehouse or --synthetic-persons")
        folder = args.keep_synthetic or args.home.with_name(args.home.name + "-warehouse")
        synthetic = folder / "sdwh.duckdb"
        made = folder / "made-for.json"
        wanted = {"persons": args.synthetic_persons,
                  "quarters": quarters_between(args.period_from, args.period_to)}
        if not (args.keep_synthetic and made.is_file()
                and json.loads(made.read_text()) == wanted):
            synthetic_warehouse(synthetic, args.synthetic_persons, wanted["quarters"])
            made.write_text(json.dumps(wanted))
        args.warehouse = synthetic
    setup(args.home, args.period_from, args.period_to, args.project_key)
    env = {"SDWH_HOME": str(args.home)}
    cmd = [sys.executable, "-m", "sdwh", "project", "extract", "flanders", "--warehouse",
           str(args.warehouse), "--as", "staff2", "--json"]
    runs = []
    for _ in range(args.runs):
        before = Path("/proc/loadavg").read_text().split()[:3]
        run = measure(cmd, env)
        manifest = json.loads(run.pop("stdout").strip().splitlines()[-1])
        table = manifest["tables"]["thm_labour_market_panel"]
        runs.append({**run, "extract_id": manifest["extract_id"], "rows": table["rows"],
                     "persons": table["persons"], "bytes": table["bytes"],
                     "sha256": table["sha256"], "inner_seconds": manifest["seconds"],
                     "steps": manifest.get("steps"),
                     "risk": manifest["risk_report"]["summary"], "loadavg_before": before,
                     "loadavg_after": Path("/proc/loadavg").read_text().split()[:3]})
        old = args.home / "projects" / "flanders" / "extracts" / manifest["extract_id"]
        if len(runs) < args.runs:
            _remove(old)  # keep disk use to one extract
    result = {"warehouse": str(args.warehouse), "synthetic_persons": args.synthetic_persons,
              "period": [args.period_from, args.period_to],
              "variables": VARIABLES, "runs": runs,
              "median_seconds": statistics.median(r["seconds"] for r in runs),
              "median_inner_seconds": statistics.median(r["inner_seconds"] for r in runs),
              "median_cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
              "max_peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
              "identical_across_runs": len({r["sha256"] for r in runs}) == 1,
              "machine": machine()}
    print(json.dumps(result, indent=2))
    _remove(args.home)
    if synthetic is not None and not args.keep_synthetic:
        shutil.rmtree(synthetic.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
