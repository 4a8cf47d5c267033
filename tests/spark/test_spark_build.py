"""The same dbt project on Spark gives the same numbers as on DuckDB (issue 9; `make test-spark`).

One synthetic raw store (1,000 persons, 2024Q3-2025Q1) is built on both engines: a full
build of 2024Q3-2024Q4, then 2025Q1 arrives with the 2025 register snapshot and the 2025
qualifications, and both engines build incrementally (DuckDB: delete+insert by period; Spark:
dynamic overwrite of the period partitions). That last step rebuilds one quarter of the panel,
one register year of the persons and, through the NEET look-back, older quarters too. After
each step every thematic and publication model and every incremental model under them must
hold the same rows on both engines; finally DuckDB rebuilds everything from scratch and the
Spark tables, built incrementally, must equal that full rebuild as well.

Kept lean for CI: one Spark session in this process for both builds and all queries
(in-memory catalog, one shuffle partition, JIT and GC set for a short-lived JVM); on Spark
the seeds, models and unit tests run, and an incremental run skips seeds and unit tests as
`sdwh build` does. The 150-odd data tests run on every DuckDB build only, because each is a
Spark job of 1-7 s (they passed on Spark too when run in full: docs/scale-out.md).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

pytest.importorskip("pyspark", reason="make test-spark installs pyspark and dbt-spark")

from sdwh.config import Settings
from sdwh.landing.ingest import ingest_all, landing_folders
from sdwh.warehouse.scaleout import build_on_spark, summary

pytestmark = pytest.mark.spark

#: Local-mode settings for a short build on tiny data (profiles.yml target spark).
LEAN_SPARK = {
    "SDWH_SPARK_CATALOG": "in-memory",
    "SDWH_SPARK_SHUFFLE_PARTITIONS": "1",
    "SDWH_SPARK_DRIVER_MEMORY": "1g",
    "SDWH_SPARK_JAVA_OPTIONS": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
}
NOT_ON_SPARK = "resource_type:test"
NOT_ON_SPARK_INCREMENTAL = "resource_type:test resource_type:seed resource_type:unit_test"
FIRST, LAST = "2024Q3", "2025Q1"
#: Landing folders of the quarter that arrives last: its quarterly and monthly deliveries and
#: the yearly ones of 2025 (register snapshot of 1 January, qualifications).
ARRIVING_LAST = ("__2025Q1__", "__2025-01__", "__2025-02__", "__2025-03__", "__2025__")
COMPARED = (
    "integrated.int_persons", "integrated.int_person_quarter_activity",
    "integrated.int_person_quarter",
    "thematic.thm_labour_market_panel", "thematic.thm_neet_youth",
    "thematic.thm_quarterly_transitions", "thematic.thm_school_to_work",
    "publication.pub_employment_rate", "publication.pub_nwwz", "publication.pub_work_shares",
)


def sdwh(home: Path, *args: str) -> dict:
    env = {**os.environ, "SDWH_HOME": str(home), "SDWH_TTP_KEY": "ab" * 32}
    out = subprocess.run([sys.executable, "-m", "sdwh", *args, "--json"], env=env,
                         capture_output=True, text=True, timeout=1200)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no JSON from sdwh {args}: {out.stdout[-2000:]} {out.stderr[-2000:]}"
    return json.loads(lines[-1])


def value(v: Any) -> Any:
    """One value in a form both engines' drivers agree on (Decimal and float compare equal)."""
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, dt.datetime):
        return v.isoformat()
    return v


def duckdb_rows(database: Path, table: str) -> tuple[list[str], Counter]:
    con = duckdb.connect(str(database), read_only=True)
    try:
        cur = con.execute(f"select * from {table}")
        names = [d[0] for d in cur.description]
        order = sorted(range(len(names)), key=lambda i: names[i])
        rows = Counter(tuple(value(r[i]) for i in order) for r in cur.fetchall())
        return sorted(names), rows
    finally:
        con.close()


def spark_rows(table: str) -> tuple[list[str], Counter]:
    from pyspark.sql import SparkSession

    frame = SparkSession.builder.getOrCreate().table(table)
    names = sorted(frame.columns)
    rows = Counter(tuple(value(r[n]) for n in names) for r in frame.collect())
    return names, rows


def compare(database: Path) -> dict[str, dict[str, Any]]:
    """Per model: row counts on both engines and the rows only one of them has."""
    report = {}
    for table in COMPARED:
        d_names, d_rows = duckdb_rows(database, table)
        s_names, s_rows = spark_rows(table)
        report[table] = {
            "columns_equal": d_names == s_names, "rows_duckdb": sum(d_rows.values()),
            "rows_spark": sum(s_rows.values()),
            "only_duckdb": list((d_rows - s_rows).elements())[:3],
            "only_spark": list((s_rows - d_rows).elements())[:3],
            "n_different": sum((d_rows - s_rows).values()) + sum((s_rows - d_rows).values())}
    return report


def spark_quarters(table: str) -> list[str]:
    from pyspark.sql import SparkSession

    rows = SparkSession.builder.getOrCreate().sql(f"select distinct quarter from {table}")
    return sorted(r[0] for r in rows.collect())


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("spark") / "home"
    sdwh(home, "synth", "--persons", "1000", "--from", FIRST, "--to", LAST, "--seed", "7")
    saved_env, saved_cwd = dict(os.environ), Path.cwd()
    os.environ.update({"SDWH_HOME": str(home), "SDWH_TTP_KEY": "ab" * 32})
    for name, setting in LEAN_SPARK.items():
        os.environ.setdefault(name, setting)
    database = home / "warehouse" / "sdwh.duckdb"
    out: dict[str, Any] = {}
    seconds: dict[str, float] = {}

    def step(name: str, run: Any) -> None:
        started = time.perf_counter()
        out[name] = run()
        seconds[name] = round(time.perf_counter() - started, 1)

    try:
        settings = Settings(home=home)
        folders = landing_folders(settings.landing_dir)
        last = [f for f in folders if any(m in f.name for m in ARRIVING_LAST)]
        out["arriving_last"] = sorted(f.name for f in last)
        step("ingest", lambda: ingest_all(settings, [f for f in folders if f not in last]))
        step("duck_full", lambda: sdwh(home, "build"))
        step("spark_full", lambda: summary(build_on_spark(settings, full_refresh=True,
                                                          exclude=NOT_ON_SPARK)))
        step("after_full", lambda: compare(database))
        step("ingest_last", lambda: ingest_all(settings, last))
        step("duck_inc", lambda: sdwh(home, "build"))
        step("spark_inc", lambda: summary(build_on_spark(
            settings, refresh_from=out["duck_inc"]["refresh_from"],
            exclude=NOT_ON_SPARK_INCREMENTAL)))
        step("after_incremental", lambda: compare(database))
        out["spark_panel_quarters"] = spark_quarters("integrated.int_person_quarter")
        step("duck_rebuild", lambda: sdwh(home, "build", "--full-refresh"))
        step("after_rebuild", lambda: compare(database))
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    # Where the time goes, for docs/scale-out.md (pytest's --basetemp keeps it).
    (home.parent / "seconds.json").write_text(json.dumps(seconds, indent=1))
    return out


def test_the_last_quarter_arrives_with_its_register_snapshot(builds: dict[str, Any]) -> None:
    names = builds["arriving_last"]
    assert any(n.startswith("rr__population__2025__") for n in names), names
    assert any(n.startswith("rsz__dmfa_employment_lines__2025Q1__") for n in names), names
    assert not any("2024" in n for n in names), names


def test_every_node_builds_and_passes_on_both_engines(builds: dict[str, Any]) -> None:
    for run in ("duck_full", "duck_inc", "duck_rebuild"):
        assert builds[run]["failures"] == [], builds[run]["failures"]
    for run in ("spark_full", "spark_inc"):
        assert builds[run]["failures"] == [], builds[run]["failures"]
    assert builds["spark_full"]["statuses"].get("success", 0) >= 40  # seeds and models
    assert builds["spark_full"]["statuses"].get("pass", 0) >= 2  # unit tests
    assert builds["spark_inc"]["statuses"].get("success", 0) >= 20  # models


def test_incremental_run_rebuilds_from_the_new_quarter(builds: dict[str, Any]) -> None:
    assert builds["duck_inc"]["mode"] == "incremental"
    assert builds["duck_inc"]["refresh_from"] == LAST
    assert builds["duck_rebuild"]["mode"] == "full"
    assert builds["spark_panel_quarters"] == ["2024Q3", "2024Q4", "2025Q1"]


@pytest.mark.parametrize("step", ["after_full", "after_incremental", "after_rebuild"])
def test_thematic_and_publication_numbers_are_identical(builds: dict[str, Any],
                                                        step: str) -> None:
    """after_rebuild: Spark's incrementally built tables against DuckDB's full rebuild."""
    report = builds[step]
    for table, r in report.items():
        assert r["columns_equal"], table
        assert r["rows_duckdb"] > 0, table
        assert r["rows_spark"] == r["rows_duckdb"], (table, r)
        assert r["n_different"] == 0, (table, r)
