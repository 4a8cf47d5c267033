"""Materialise the product cubes and the published (protected) SQL tables from the warehouse.

Two DuckDB files under ``<home>/query/``, each written to a temporary file and renamed, so a
crash leaves the previous pair:

* ``cubes.duckdb`` — per product, one row per finest cell with, per measure, the count of
  distinct persons ``n_<m>`` and the sum of their record keys mod 2**56 ``k_<m>``; the code
  lists with labels; provenance. Unprotected counts: read only by the table builder.
* ``published.duckdb`` — the tables of ``published.yml`` computed by the table builder from
  those cubes, so every count in them is already protected and equals what the table builder
  answers for the same cell. The guarded SQL endpoint sees this file only.

The warehouse is attached read-only; nothing is written next to it.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import yaml
from pydantic import BaseModel, ConfigDict, Field

from sdwh.config import Settings
from sdwh.errors import SdwhError
from sdwh.query.cellkeys import MODULUS, hmac_pads, record_key_sql
from sdwh.query.keys import cellkey_secret, key_id
from sdwh.query.products import (
    PRODUCTS_FILE,
    QUARTER_PLACEHOLDERS,
    Catalogue,
    column_name,
    load_catalogue,
)
from sdwh.query.tablebuilder import TableRequest, build_table, cube_navigator

PUBLISHED_FILE = Path(__file__).with_name("published.yml")
UNKNOWN = "unknown"


class PublishedTable(BaseModel):
    """A protected table the guarded SQL endpoint serves (one level per dimension)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    table: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    description: str
    request: TableRequest


def load_published(path: Path = PUBLISHED_FILE) -> list[PublishedTable]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [PublishedTable(**t) for t in raw["tables"]]


def warehouse_path(settings: Settings) -> Path:
    return settings.api_warehouse or settings.root / "warehouse" / "sdwh.duckdb"


def query_dir(settings: Settings) -> Path:
    return settings.root / "query"


def cube_path(settings: Settings) -> Path:
    return query_dir(settings) / "cubes.duckdb"


def published_path(settings: Settings) -> Path:
    return query_dir(settings) / "published.duckdb"


def fingerprint(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def _configure(con: duckdb.DuckDBPyConnection, settings: Settings, tmp_dir: Path) -> None:
    con.execute(f"SET threads = {int(settings.duckdb_threads)}")
    con.execute("SET memory_limit = ?", [settings.duckdb_memory_limit])
    con.execute("SET temp_directory = ?", [str(tmp_dir)])
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")


QUARTER = re.compile(r"^[0-9]{4}Q[1-4]$")


def previous_quarter(quarter: str) -> str:
    """The calendar quarter before ``quarter`` ('2025Q1' → '2024Q4')."""
    year, number = int(quarter[:4]), int(quarter[5])
    return f"{year - 1}Q4" if number == 1 else f"{year}Q{number - 1}"


def _checked_quarter(quarter: str) -> str:
    if not QUARTER.match(quarter):
        raise SdwhError(f"The warehouse has a quarter '{quarter[:40]}' that is not YYYYQn.",
                        "Check the thematic panel's quarter column.")
    return quarter


def render_source(product: Any, quarter: str | None, first_quarter: str | None) -> str:
    """The product's source with its quarter placeholders replaced by checked literals."""
    if quarter is None or first_quarter is None:
        return product.source
    values = {"{quarter}": quarter, "{previous_quarter}": previous_quarter(quarter),
              "{first_quarter}": first_quarter}
    source = product.source
    for placeholder in QUARTER_PLACEHOLDERS:
        source = source.replace(placeholder, f"'{_checked_quarter(values[placeholder])}'")
    return source


def _product_select(product: Any, quarter: str | None = None,
                    first_quarter: str | None = None) -> str:
    """The finest cells of a product (of one quarter, when given): per measure the count of
    persons and the sum of their record keys."""
    cols = [f"coalesce(CAST({expr} AS VARCHAR), '{UNKNOWN}') AS \"{name}\""
            for name, expr in product.cube_columns()]
    aggs = []
    for m in product.measures:
        aggs.append(f"count(*) FILTER (WHERE {m.condition})::BIGINT AS n_{m.id}")
        aggs.append(f"(coalesce(sum(k.rk) FILTER (WHERE {m.condition}), 0) % {MODULUS})::BIGINT"
                    f" AS k_{m.id}")
    order = ", ".join(str(i + 1) for i in range(len(cols)))
    where = ""
    if quarter is not None:
        where = (f" WHERE ({product.dimension('quarter').levels[0].expr}) = "
                 f"'{_checked_quarter(quarter)}'")
    source = render_source(product, quarter, first_quarter or quarter)
    return (f"SELECT {', '.join(cols)}, {', '.join(aggs)} "
            f"FROM ({source}) AS src INNER JOIN person_keys AS k USING (person_id)"
            f"{where} GROUP BY ALL ORDER BY {order}")


def _product_sql(product: Any) -> str:
    """The whole cube in one statement (small data; the build goes quarter by quarter)."""
    return f"CREATE TABLE {product.cube_table} AS {_product_select(product)}"


def _build_cube(con: duckdb.DuckDBPyConnection, product: Any, quarters: list[str],
                step: Callable[[str], None]) -> None:
    """The cube one quarter at a time: a cell lies in one quarter, so the chunks are exact and
    disjoint, and each join and aggregation holds one or two quarters of the panel in memory
    (the transitions join of two 140 M-row relations at once would spill)."""
    if not product.by_quarter:
        step(f"cube {product.id}")
        con.execute(_product_sql(product))
        return
    for i, quarter in enumerate(quarters):
        step(f"cube {product.id} {quarter} ({i + 1}/{len(quarters)})")
        select = _product_select(product, quarter, quarters[0])
        con.execute(f"CREATE TABLE {product.cube_table} AS {select}" if i == 0
                    else f"INSERT INTO {product.cube_table} {select}")


def _rollup_sql(product: Any, index: int, dims: tuple[str, ...]) -> str:
    """The cube summed over the dimensions a rollup leaves out (exact: counts and key sums
    add up, since a person is in one finest cell per quarter)."""
    cols = [f'"{c}"' for c in product.level_columns(dims)]
    sums = [f"sum(n_{m.id})::BIGINT AS n_{m.id}, (sum(k_{m.id}) % {MODULUS})::BIGINT AS k_{m.id}"
            for m in product.measures]
    return (f"CREATE TABLE {product.rollup_table(index)} AS SELECT {', '.join(cols)}, "
            f"{', '.join(sums)} FROM {product.cube_table} GROUP BY ALL ORDER BY "
            + ", ".join(str(i + 1) for i in range(len(cols))))


def _codes_rows(catalogue: Catalogue, seeds_dir: Path,
                con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """(code list, code, label) for every code list; codes seen in the cubes get a label."""
    rows: dict[tuple[str, str], str] = {}
    for name, cl in catalogue.codelists.items():
        for seed in ([cl.seed] if cl.seed else []) + list(cl.seeds):
            with (seeds_dir / seed).open(encoding="utf-8") as f:
                for rec in csv.DictReader(f):
                    rows[(name, rec[cl.code])] = rec[cl.label]
        for code, label in {**cl.values, **cl.extra}.items():
            rows[(name, code)] = label
    for p in catalogue.products:
        for d in p.dimensions:
            for lv in d.levels:
                column = column_name(d.id, lv.id)
                for (code,) in con.execute(
                        f'SELECT DISTINCT "{column}" FROM {p.cube_table}').fetchall():
                    rows.setdefault((lv.codelist, code), code)
    return sorted((k[0], k[1], v) for k, v in rows.items())


def _atomic_target(final: Path) -> Path:
    tmp = final.with_name(final.name + ".tmp")
    for p in (tmp, tmp.with_name(tmp.name + ".wal")):
        p.unlink(missing_ok=True)
    return tmp


def _finish(tmp: Path, final: Path) -> None:
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, final)


def build_cubes(settings: Settings, on_step: Callable[[str], None] | None = None,
                catalogue: Catalogue | None = None) -> dict[str, Any]:
    """Build ``cubes.duckdb`` and ``published.duckdb`` from the warehouse; return a summary."""
    step = on_step or (lambda _: None)
    catalogue = catalogue or load_catalogue()
    source = warehouse_path(settings)
    if not source.is_file():
        raise SdwhError(f"The warehouse {source} does not exist.",
                        "Run `sdwh build` first, or set SDWH_API_WAREHOUSE.")
    out_dir = query_dir(settings)
    out_dir.mkdir(parents=True, exist_ok=True)
    spill = out_dir / "spill"
    spill.mkdir(exist_ok=True)
    secret = cellkey_secret(settings)
    ipad, opad = hmac_pads(secret)
    final = cube_path(settings)
    tmp = _atomic_target(final)
    con = duckdb.connect(str(tmp))
    summary: dict[str, Any] = {"warehouse": str(source), "cubes": str(final), "products": {}}
    try:
        _configure(con, settings, spill)
        con.execute("ATTACH ? AS wh (READ_ONLY)", [str(source)])
        step("record keys")
        started = time.perf_counter()
        # the persons and the quarters of the panel in one scan of it (a 140 M-row view)
        con.execute("CREATE TEMP TABLE panel_ids AS SELECT person_id, quarter, "
                    "grouping(quarter) AS by_person FROM wh.thematic.thm_labour_market_panel "
                    "GROUP BY GROUPING SETS ((person_id), (quarter))")
        con.execute(
            "CREATE TEMP TABLE person_keys AS SELECT person_id, "
            f"{record_key_sql('person_id')} AS rk FROM panel_ids WHERE by_person = 1",
            {"ipad": ipad, "opad": opad})
        summary["persons"] = con.execute("SELECT count(*) FROM person_keys").fetchone()[0]
        quarters = [r[0] for r in con.execute(
            "SELECT quarter FROM panel_ids WHERE by_person = 0 ORDER BY 1").fetchall()]
        con.execute("DROP TABLE panel_ids")
        if not quarters:
            raise SdwhError(f"The thematic panel of {source} has no rows.",
                            "Ingest deliveries and run `sdwh build` first.")
        summary["step_seconds"] = {"record_keys": round(time.perf_counter() - started, 1)}
        for product in catalogue.products:
            began = time.perf_counter()
            _build_cube(con, product, quarters, step)
            n = con.execute(f"SELECT count(*) FROM {product.cube_table}").fetchone()[0]
            summary["products"][product.id] = {"cells": n, "rollups": {}}
            for i, dims in enumerate(product.rollups):
                con.execute(_rollup_sql(product, i, dims))
                r = con.execute(f"SELECT count(*) FROM {product.rollup_table(i)}").fetchone()[0]
                summary["products"][product.id]["rollups"]["+".join(dims)] = r
            summary["step_seconds"][product.id] = round(time.perf_counter() - began, 1)
        step("code lists")
        codes = _codes_rows(catalogue, settings.seeds_dir, con)
        codes_table = pa.table(  # noqa: F841 (read by DuckDB's replacement scan)
            {n: [r[i] for r in codes] for i, n in enumerate(("codelist", "code", "label"))})
        con.execute("CREATE TABLE codes AS SELECT * FROM codes_table")
        meta = {"warehouse": str(source), "warehouse_fingerprint": fingerprint(source),
                "products_sha256": hashlib.sha256(PRODUCTS_FILE.read_bytes()).hexdigest(),
                "cellkey_key_id": key_id(secret),
                "quarters": ",".join(r[0] for r in con.execute(
                    "SELECT DISTINCT quarter FROM cube_labour_market_position ORDER BY 1"
                ).fetchall())}
        con.execute("CREATE TABLE meta (key VARCHAR, value VARCHAR)")
        con.executemany("INSERT INTO meta VALUES (?, ?)", sorted(meta.items()))
        con.execute("DETACH wh")
        con.execute("CHECKPOINT")
    except (duckdb.Error, SdwhError) as err:
        con.close()
        tmp.unlink(missing_ok=True)
        if isinstance(err, SdwhError):
            raise
        raise SdwhError(f"Building the product cubes failed: {err}",
                        "Check that the warehouse is built completely (`sdwh build`).") from err
    con.close()
    _finish(tmp, final)
    step("published tables")
    began = time.perf_counter()
    summary["published"] = build_published(settings, catalogue)
    summary["step_seconds"]["published"] = round(time.perf_counter() - began, 1)
    summary["meta"] = meta
    return summary


def build_published(settings: Settings, catalogue: Catalogue) -> dict[str, int]:
    """Protected tables for guarded SQL, computed by the table builder from the cubes."""
    final = published_path(settings)
    tmp = _atomic_target(final)
    cubes = duckdb.connect(str(cube_path(settings)), read_only=True)
    labels = load_labels(cubes)
    navigator = cube_navigator(cubes, catalogue)
    out = duckdb.connect(str(tmp))
    counts = {}
    try:
        for spec in load_published():
            result = build_table(cubes, catalogue, spec.request, max_cells=10_000_000,
                                 navigator=navigator)
            cols, rows = published_rows(result, labels)
            types = {c: (pa.int64() if c in result.measures else
                         pa.float64() if c in result.derived else pa.string()) for c in cols}
            data = pa.table({c: pa.array([r[i] for r in rows], type=types[c])  # noqa: F841
                             for i, c in enumerate(cols)})
            out.execute(f"CREATE TABLE {spec.table} AS SELECT * FROM data")
            comment = spec.description.replace("'", "''")
            out.execute(f"COMMENT ON TABLE {spec.table} IS '{comment}'")
            counts[spec.table] = len(rows)
        out.execute("CHECKPOINT")
    finally:
        out.close()
        cubes.close()
    _finish(tmp, final)
    return counts


def published_rows(result: Any, labels: dict[str, dict[str, str]]) -> tuple[list[str],
                                                                              list[tuple]]:
    """Columns and rows of a protected table, with a label column next to each code."""
    cols: list[str] = []
    for a in result.axes:
        cols += [a.dim, f"{a.dim}_label"]
    for m in [*result.measures, *result.derived]:
        cols += [m, f"{m}_flag"]
    rows = []
    for rec in result.records:
        row: list[Any] = []
        for a in result.axes:
            code = rec[a.dim]
            row += [code, "Total" if code == "_T" else labels.get(a.codelist, {}).get(code, code)]
        for m in [*result.measures, *result.derived]:
            row += [rec[m], rec[f"{m}_flag"]]
        rows.append(tuple(row))
    return cols, rows


def load_labels(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, str]]:
    labels: dict[str, dict[str, str]] = {}
    for codelist, code, label in con.execute("SELECT codelist, code, label FROM codes").fetchall():
        labels.setdefault(codelist, {})[code] = label
    return labels


def load_meta(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return dict(con.execute("SELECT key, value FROM meta").fetchall())
