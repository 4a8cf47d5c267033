"""What a build did: rows per layer, tests passed and failed, time per layer, key indicators."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import duckdb

from sdwh.warehouse.project import LAYERS, WarehousePaths
from sdwh.warehouse.runner import BuildResult

TEST_TYPES = ("test", "unit_test")


def _connect(paths: WarehousePaths) -> duckdb.DuckDBPyConnection:
    """Open the database as dbt-duckdb does (read-write, default config): in the same process
    DuckDB then shares dbt's instance instead of refusing a second configuration."""
    return duckdb.connect(str(paths.database))


def rows_per_model(paths: WarehousePaths) -> dict[str, dict[str, int]]:
    """Row counts of every table by layer (same process as dbt). Raw staging views count
    the rows the register accepted for current deliveries: the reconciliation test
    (tests/integration/test_warehouse.py) proves the views hold exactly these, and counting
    the views would re-read the whole raw store after every build."""
    con = _connect(paths)
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            f"where table_schema in ({', '.join(repr(s) for s in LAYERS)}) "
            "and (table_type = 'BASE TABLE' or table_schema = 'raw') "
            "order by table_schema, table_name").fetchall()
        counts: dict[str, dict[str, int]] = defaultdict(dict)
        accepted = dict(con.execute(
            "select 'stg_' || supplier || '__' || dataset, sum(rows_accepted) "
            "from raw.stg_landing__deliveries where is_current group by all").fetchall()
        ) if ("raw", "stg_landing__deliveries") in tables else {}
        for schema, name in tables:  # derived views (spells, panel) are not counted twice
            if schema == "raw" and name in accepted:
                counts[schema][name] = int(accepted[name])
                continue
            counts[schema][name] = con.execute(
                f'select count(*) from "{schema}"."{name}"').fetchone()[0]
        return dict(counts)
    finally:
        con.close()


def indicators(paths: WarehousePaths) -> dict[str, Any]:
    """Headline figures of the latest quarter (employment rate 20-64, NWWZ), read from the
    stored compact panel: the view int_person_quarter would join the pseudonyms in first."""
    con = _connect(paths)
    try:
        row = con.execute("""
            select q.quarter,
                   round(100.0 * avg(case when c.sep_seq between 1 and 6 then 1 else 0 end)
                         filter (where c.age between 20 and 64), 1),
                   count(*) filter (where c.age between 20 and 64),
                   count(*) filter (where c.nwwz_category_code is not null)
            from integrated.int_person_quarter_compact as c
            inner join integrated.int_quarters as q on c.quarter_seq = q.quarter_seq
            where c.quarter_seq = (select max(quarter_seq)
                                   from integrated.int_person_quarter_compact)
            group by q.quarter""").fetchone()
        if row is None:
            return {}
        return {"quarter": row[0], "employment_rate_20_64_pct": float(row[1]),
                "population_20_64": row[2], "nwwz": row[3]}
    finally:
        con.close()


def summarise(build: BuildResult, paths: WarehousePaths) -> dict[str, Any]:
    seconds: dict[str, float] = defaultdict(float)
    tests = {"passed": 0, "failed": 0, "warned": 0, "errored": 0}
    for n in build.nodes:
        seconds[n.layer] += n.seconds
        if n.resource_type in TEST_TYPES:
            key = {"pass": "passed", "fail": "failed", "warn": "warned"}.get(n.status, "errored")
            tests[key] += 1
    counts = rows_per_model(paths) if paths.database.is_file() else {}
    return {
        "database": str(paths.database),
        "seconds": round(build.seconds, 1),
        "seconds_per_layer": {k: round(v, 1) for k, v in sorted(seconds.items())},
        "rows_per_layer": {layer: sum(m.values()) for layer, m in counts.items()},
        "rows_per_model": counts,
        "tests": tests,
        "nodes": len(build.nodes),
        "failures": [{"node": f.unique_id, "status": f.status, "message": f.message}
                     for f in build.failures()],
        "indicators": (indicators(paths)
                       if "int_person_quarter_compact" in counts.get("integrated", {}) else {}),
    }
