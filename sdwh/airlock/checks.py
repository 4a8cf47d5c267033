"""Automatic checking of export requests, with evidence for the checkers.

* A **table with a recorded query** (``project.save_table``): the query is analysed with
  sqlglot; if it is one SELECT … GROUP BY over one extract table, the checker re-runs it on
  the extract as microdata and counts **distinct persons per cell** (``disclosure.rules``):
  threshold and zeros for counts, dominance and p % for sums and means. A cell that breaks a
  rule fails only if the file publishes it (suppressed or absent cells are fine).
* **Differencing**: every count table is compared, as linear equations over the extract,
  with all tables already released for the project and the other tables of the request
  (``disclosure.differencing``): a suppressed cell or small group that can be derived fails.
* Tables without a query, graphs and free text go to the checkers (``review``) with
  summaries; model summaries are checked for residual degrees of freedom.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from disclosure.differencing import ReleasedTable, find_disclosures
from disclosure.outputs import regression
from disclosure.rules import TOTAL, RuleParams, TableSpec, add_zero_cells, apply_rules, cell_stats
from sdwh.airlock.intake import read_table
from sdwh.airlock.model import Check, RequestFile
from sdwh.errors import SdwhError
from sdwh.projects.population import check_population

UNIT = "person_id"
COUNTS = ("count", "count_distinct")
MAGNITUDES = ("sum", "avg")
EXTREMES = ("min", "max", "median", "quantile")


class NotAnalysable(Exception):
    """The query is valid SQL but not of a shape the checker can re-run per cell."""


@dataclass
class Measure:
    column: str
    func: str
    arg: str | None


@dataclass
class QueryShape:
    source: str
    dims: list[tuple[str, str]]  # (column in the output, column of the extract)
    measures: list[Measure]
    where: str | None
    margins: bool
    where_columns: set[str] = field(default_factory=set)

    @property
    def dim_sources(self) -> list[str]:
        return [s for _, s in self.dims]


def analyse_query(query: str, tables: dict[str, list[str]]) -> QueryShape:
    """The shape of a recorded query; NotAnalysable says why the checker cannot re-run it."""
    try:
        tree = sqlglot.parse_one(query, read="duckdb")
    except ParseError as err:
        raise NotAnalysable(f"the query does not parse ({str(err).splitlines()[0]})") from None
    if not isinstance(tree, exp.Select) or tree.args.get("with_") or tree.args.get("with"):
        raise NotAnalysable("only a single SELECT (no CTE, UNION or subquery) can be re-run")
    for node in tree.walk():
        if isinstance(node, exp.Join | exp.Subquery | exp.Window) or (
                isinstance(node, exp.Select) and node is not tree):
            raise NotAnalysable(f"the query uses {type(node).__name__.lower()}")
    if tree.args.get("distinct") or tree.args.get("limit"):
        raise NotAnalysable("SELECT DISTINCT / LIMIT hide which cells exist")
    source_expr = (tree.args.get("from_") or tree.args.get("from"))
    table = source_expr.this if source_expr is not None else None
    if not isinstance(table, exp.Table) or table.name not in tables:
        raise NotAnalysable("the query must read exactly one extract table")
    source, columns = table.name, tables[table.name]
    dims, measures = [], []
    for item in tree.expressions:
        inner, name = item.unalias(), item.alias_or_name
        if isinstance(inner, exp.Column):
            if inner.name not in columns:
                raise NotAnalysable(f"column {inner.name} is not in {source}")
            dims.append((name, inner.name))
        else:
            measures.append(_measure(name, inner, columns))
    if not measures:
        raise NotAnalysable("the query computes no statistic (no aggregate)")
    margins = _grouping(tree.args.get("group"), [s for _, s in dims])
    where_node = tree.args.get("where")
    where, where_columns = None, set()
    if where_node is not None:
        where_sql = where_node.this.sql("duckdb")
        try:
            where = check_population(where_sql, columns)
        except SdwhError as err:
            raise NotAnalysable(f"the WHERE clause is not a plain condition ({err.message})"
                                ) from None
        where_columns = {c.name for c in where_node.find_all(exp.Column)}
    return QueryShape(source, dims, measures, where, margins, where_columns)


def _measure(name: str, node: exp.Expression, columns: list[str]) -> Measure:
    kinds = {exp.Count: "count", exp.Sum: "sum", exp.Avg: "avg", exp.Min: "min",
             exp.Max: "max", exp.Median: "median", exp.Quantile: "quantile"}
    func = next((k for t, k in kinds.items() if isinstance(node, t)), None)
    if func is None:
        raise NotAnalysable(f"output column {name} is not a plain aggregate "
                            f"({node.sql('duckdb')[:60]})")
    arg = node.this
    if isinstance(arg, exp.Distinct):
        func = "count_distinct" if func == "count" else func
        arg = arg.expressions[0] if arg.expressions else None
    if isinstance(arg, exp.Star) or arg is None:
        return Measure(name, func, None)
    if not isinstance(arg, exp.Column) or arg.name not in columns:
        raise NotAnalysable(f"output column {name} aggregates an expression, not a column")
    return Measure(name, func, arg.name)


def _grouping(group: exp.Group | None, dims: list[str]) -> bool:
    """True for ROLLUP/CUBE (margins); checks the grouping matches the selected columns."""
    if group is None:
        if dims:
            raise NotAnalysable("columns are selected without GROUP BY")
        return False
    if group.args.get("all"):
        return False
    exprs = group.expressions or []
    for key in ("cube", "rollup"):
        for node in group.args.get(key) or []:
            exprs = [*exprs, node]
    if len(exprs) == 1 and isinstance(exprs[0], exp.Cube | exp.Rollup):
        cols = [c.name for c in exprs[0].expressions if isinstance(c, exp.Column)]
        if sorted(cols) != sorted(dims):
            raise NotAnalysable("ROLLUP/CUBE must list exactly the selected columns")
        if isinstance(exprs[0], exp.Rollup) and len(dims) > 1:
            raise NotAnalysable("ROLLUP over several columns (partial margins) cannot be "
                                "checked; use CUBE or plain GROUP BY")
        return True
    cols = [c.name for c in exprs if isinstance(c, exp.Column)]
    if len(cols) != len(exprs) or sorted(cols) != sorted(dims):
        raise NotAnalysable("GROUP BY must list exactly the selected columns")
    return False


# ---------------------------------------------------------------------- tables with a query


def check_query_table(con: duckdb.DuckDBPyConnection, tables: dict[str, list[str]],
                      file: RequestFile, path: Path, params: RuleParams,
                      manifest: dict[str, Any] | None = None
                      ) -> tuple[Check, dict[str, Any] | None]:
    """(verdict, differencing definition or None) for a table that carries its query.

    With the extract's ``manifest``, a table whose cells hold at most one row per person
    (its grouping or WHERE fixes the extract's grain, e.g. the quarter of a person × quarter
    panel) is counted on rows, which are then persons: the same figures without the
    per-person aggregate, the dominant cost on a large extract.
    """
    query = (file.query or {}).get("query", "")
    try:
        shape = analyse_query(query, tables)
    except NotAnalysable as why:
        return Check(status="review", kind="table", reasons=[
            f"the recorded query cannot be re-checked automatically: {why}"],
            evidence={"query": query}), None
    published = read_table(path)
    missing = [o for o, _ in shape.dims if o not in published.columns]
    if missing:
        return Check(status="review", kind="table", reasons=[
            f"the file lacks the query's column(s) {', '.join(missing)}"],
            evidence={"query": query}), None
    pub = _published_cells(published, shape)
    spec = TableSpec.flat(shape.dim_sources, margins=shape.margins)
    src = _microdata_sql(shape, [m.arg for m in shape.measures if m.arg])
    grain = unit_grain(con, manifest, shape.source) if manifest else None
    # a margin (CUBE/ROLLUP total) spans every value of its dimension: only the WHERE
    # fixes the grain in all cells then
    fixed = _pinned(shape.where) | (set() if shape.margins else set(shape.dim_sources))
    rows_are_persons = grain is not None and set(grain) <= fixed
    reasons, failing, evidence = [], [], {"query": query, "source": shape.source,
                                          "unit": UNIT, "cells_published": len(pub),
                                          "one_row_per_person_per_cell": rows_are_persons}
    cache: dict[str | None, pd.DataFrame] = {}

    def stats(value: str | None) -> pd.DataFrame:
        """One aggregate pass per value column; counts reuse a magnitude's pass."""
        if value not in cache:
            # counts need no top contributions (dominance is for magnitudes)
            cache[value] = cell_stats(src, spec, value=value,
                                      unit=None if rows_are_persons else UNIT,
                                      n_top=max(2, params.nk_n) if value else 0, con=con)
        return cache[value]

    shown = [m for m in shape.measures if m.column in published.columns]
    magnitude_arg = next((m.arg for m in shown if m.func in MAGNITUDES), None)
    count_cells: pd.DataFrame | None = None
    for m in shown:
        if m.func in COUNTS:
            if count_cells is None:
                count_cells = apply_rules(add_zero_cells(stats(magnitude_arg), spec), params,
                                          magnitude=False)
            cells = count_cells
        elif m.func in MAGNITUDES:
            cells = apply_rules(stats(m.arg), params, magnitude=True)
        else:
            reasons.append(f"{m.column} is a {m.func}: extreme values and quantiles are "
                           "individual values; the checker must confirm enough persons "
                           "share them")
            continue
        failing += _published_failures(cells, pub, shape, m.column)
    if failing:
        reasons.append(f"{len(failing)} published cell(s) have too few persons or are "
                       "dominated (see failing_cells)")
    if (file.query or {}).get("modified"):
        differing = _changed_values(shape, pub, count_cells)
        evidence["modified"] = {"cells_differing_from_query": differing}
        if differing is None or differing:
            reasons.append("the table was changed after the query ran and its published "
                           "values differ from the query's (rounding, noise or edits): the "
                           "checker confirms them")
    evidence["failing_cells"] = failing[:200]
    status = "fail" if failing else ("review" if reasons else "pass")
    definition = None
    counted = next((m for m in shape.measures if m.func == "count" and m.column in pub), None)
    if counted is not None and count_cells is not None:
        definition = _differencing_definition(shape, pub, count_cells, counted, file.name)
    return Check(status=status, kind="table", reasons=reasons, evidence=evidence), definition


_GRAINS: dict[tuple[str, str], tuple[str, ...] | None] = {}
GRAIN_CANDIDATES: tuple[tuple[str, ...], ...] = ((), ("quarter",))


def unit_grain(con: duckdb.DuckDBPyConnection, manifest: dict[str, Any], source: str
               ) -> tuple[str, ...] | None:
    """Columns G such that (person, G) identifies a row of ``source`` and no row lacks its
    person (``()``: one row per person; ``("quarter",)``: a person × quarter panel), or None.

    Tested once per extract file (its SHA-256 in the manifest) and remembered by the process.
    """
    table = manifest.get("tables", {}).get(source) or {}
    key = (source, str(table.get("sha256")))
    if key not in _GRAINS and table.get("sha256"):
        columns = set(table.get("columns", []))
        found = None
        for grain in GRAIN_CANDIDATES:
            if UNIT not in columns or not set(grain) <= columns or (
                    not grain and table.get("persons") not in (None, table.get("rows"))):
                continue
            cols = ", ".join(f'"{c}"' for c in (UNIT, *grain))
            nulls, dups = con.execute(
                f'select (select count(*) - count("{UNIT}") from "{source}"), '
                f'(select count(*) from (select 1 from "{source}" group by {cols} '
                "having count(*) > 1 limit 1))").fetchone()
            if nulls == 0 and dups == 0:
                found = grain
                break
            if nulls:
                break
        _GRAINS[key] = found
    return _GRAINS.get(key)


def _pinned(where: str | None) -> set[str]:
    """Columns a WHERE fixes to one value (``col = literal`` among its top-level ANDs)."""
    if not where:
        return set()
    node = sqlglot.parse_one(where, read="duckdb")
    conjuncts = list(node.flatten()) if isinstance(node, exp.And) else [node]
    out = set()
    for c in conjuncts:
        c = c.unnest()
        if isinstance(c, exp.EQ):
            left, right = c.this, c.expression
            if isinstance(right, exp.Column):
                left, right = right, left
            if isinstance(left, exp.Column) and isinstance(right, exp.Literal):
                out.add(left.name)
    return out


def _changed_values(shape: QueryShape, pub: pd.DataFrame, cells: pd.DataFrame | None
                    ) -> int | None:
    """Published inner count cells whose value is not the query's (None: cannot tell).

    Blanking cells (suppression) changes nothing shown; margins are left to differencing.
    """
    truth_of = {"count": "n_rows"}
    if cells is None or any(m.func not in truth_of and not (
            m.func == "count_distinct" and m.arg == UNIT) for m in shape.measures
            if m.column in pub):
        return None
    dims = shape.dim_sources
    keyed = _keyed(cells, dims, shape.margins)
    inner = np.ones(len(pub), dtype=bool)
    for d in dims:
        inner &= pub[d].to_numpy() != TOTAL
    joined = pub[inner].merge(keyed, on=dims, how="left")
    changed = 0
    for m in shape.measures:
        if m.column not in pub:
            continue
        truth = joined[truth_of.get(m.func, "n_units")]
        shown = joined[m.column]
        changed += int((shown.notna() & (shown != truth)).sum())
    return changed


def _microdata_sql(shape: QueryShape, values: list[str]) -> str:
    cols = dict.fromkeys([*shape.dim_sources, UNIT, *values])
    sel = ", ".join(f'"{c}"' for c in cols)
    return f'select {sel} from "{shape.source}" where {shape.where or "true"}'


def _published_cells(published: pd.DataFrame, shape: QueryShape) -> pd.DataFrame:
    """Published rows keyed like cell_stats output: dim codes as text, margins as Total."""
    out = pd.DataFrame({s: _codes(published[o]) for o, s in shape.dims})
    out = out.fillna(TOTAL if shape.margins else "<null>")
    for m in shape.measures:
        if m.column in published.columns:
            out[m.column] = pd.to_numeric(published[m.column], errors="coerce")
    return out


def _codes(values: pd.Series) -> pd.Series:
    """Category codes as DuckDB prints them (booleans lower case), NULL kept."""
    text = values.astype("string")
    return text.str.replace(r"^(True|False)$", lambda m: m.group(0).lower(), regex=True)


def _keyed(cells: pd.DataFrame, dims: list[str], margins: bool) -> pd.DataFrame:
    keyed = cells.copy()
    for d in dims:
        keyed[d] = _codes(keyed[d])
        if not margins:
            keyed[d] = keyed[d].fillna("<null>")
    return keyed


def _published_failures(cells: pd.DataFrame, pub: pd.DataFrame, shape: QueryShape,
                        column: str) -> list[dict[str, Any]]:
    dims = shape.dim_sources
    bad = _keyed(cells[cells["status"] != "pass"], dims, shape.margins)
    if bad.empty or not dims:
        shown = bool(len(pub)) and pub[column].notna().any()
        return [{"cell": "all", "column": column, "n_persons": int(r["n_units"]),
                 "rules": _rules(r)} for _, r in bad.iterrows()] if shown else []
    merged = bad.merge(pub[[*dims, column]], on=dims, how="inner")
    merged = merged[merged[column].notna()]
    return [{"cell": {d: str(r[d]) for d in dims}, "column": column,
             "n_persons": int(r["n_units"]), "rules": _rules(r)}
            for _, r in merged.iterrows()]


def _rules(cell: pd.Series) -> list[str]:
    return [r for r in str(cell["failed_rules"]).split(",") if r]


def _differencing_definition(shape: QueryShape, pub: pd.DataFrame, cells: pd.DataFrame,
                             measure: Measure, name: str) -> dict[str, Any]:
    """The table as published, for differencing: one value per cell (NaN = suppressed)."""
    dims = shape.dim_sources
    shown = pub[[*dims, measure.column]].rename(columns={measure.column: "value"})
    truth = _keyed(cells, dims, shape.margins)[[*dims, "n_rows"]]
    joined = shown.merge(truth, on=dims, how="left")
    inner = np.ones(len(joined), dtype=bool)
    for d in dims:
        inner &= joined[d].to_numpy() != TOTAL
    margin_values = joined[~inner & joined["value"].notna()]
    exclude = bool(len(margin_values)) and bool(
        (margin_values["value"] != margin_values["n_rows"]).any())
    return {"name": name, "source": shape.source, "dims": dims, "where": shape.where,
            "where_columns": sorted(shape.where_columns), "total_label": TOTAL,
            "margins_exclude_suppressed": exclude,
            "cells": joined[[*dims, "value"]].astype({"value": float}).to_dict("records")}


def released_table(definition: dict[str, Any], value: str | None = None) -> ReleasedTable:
    cells = pd.DataFrame(definition["cells"])
    cells["value"] = cells["value"].astype(float)
    return ReleasedTable(name=definition["name"], dims=definition["dims"], cells=cells,
                         where=definition["where"], total_label=definition["total_label"],
                         margins_exclude_suppressed=definition["margins_exclude_suppressed"],
                         value=value)


ROWS = "sdwh__rows"  # row count of a pre-aggregated group (never an extract column name)


class Differencing:
    """Differencing of tables checked one after another against everything known before.

    Why this shape: at 1 M rows the cost was the microdata, not the LP. The extract is read
    once per source, aggregated to the finest groups any table of the check uses (rows per
    group as a weight: counting rows or summing the weights gives the same atoms), and the
    findings of the tables known so far are carried from one table to the next instead of
    being recomputed (``check_new_table`` computes them before and after every table).
    """

    def __init__(self, known: list[dict[str, Any]], threshold: int,
                 upcoming: list[dict[str, Any]] = ()) -> None:
        self.known, self.threshold = list(known), threshold
        self._upcoming = list(upcoming)
        self._micro: dict[tuple[int, str], Any] = {}
        self._before: dict[str, tuple[int, set[tuple]]] = {}

    def check(self, con: duckdb.DuckDBPyConnection, candidate: dict[str, Any]
              ) -> list[dict[str, Any]]:
        """New disclosures ``candidate`` adds (on the extract ``con``); then it is known."""
        source = candidate["source"]
        same = [d for d in self.known if d["source"] == source]
        self.known.append(candidate)
        carried = self._before.pop(source, None)
        try:
            micro = self._microdata(con, source, [*same, candidate])
            released = [released_table(d, ROWS) for d in same]
            if carried is not None and carried[0] == id(con):
                before = carried[1]
            else:
                before = {_key(f) for f in find_disclosures(
                    micro, released, self.threshold)} if released else set()
            after = find_disclosures(micro, [*released, released_table(candidate, ROWS)],
                                     self.threshold)
        except SdwhError as err:
            return [{"kind": "inconsistent", "explanation": err.message}]
        self._before[source] = (id(con), {_key(f) for f in after})
        return [f.model_dump() for f in after if _key(f) not in before]

    def _microdata(self, con: duckdb.DuckDBPyConnection, source: str,
                   definitions: list[dict[str, Any]]) -> Any:
        """Rows per finest group of ``source``; computed once for every table of the check."""
        needed = _columns(definitions)
        micro = self._micro.get((id(con), source))
        if micro is None or not set(needed) <= set(micro.column_names):
            columns = sorted({*needed, *_columns(
                [d for d in [*self.known, *self._upcoming] if d["source"] == source])})
            sel = ", ".join(f'"{c}"' for c in columns)
            micro = con.sql(f'select {sel}, count(*) as {ROWS} from "{source}" '
                            "group by all").to_arrow_table()
            self._micro[(id(con), source)] = micro
        return micro


def _columns(definitions: list[dict[str, Any]]) -> list[str]:
    return sorted({c for d in definitions for c in [*d["dims"], *d["where_columns"]]})


def _key(finding: Any) -> tuple:
    return finding.kind, finding.table, tuple(sorted(finding.cell.items()))


def differencing(con: duckdb.DuckDBPyConnection, released: list[dict[str, Any]],
                 candidate: dict[str, Any], threshold: int) -> list[dict[str, Any]]:
    """New disclosures ``candidate`` adds to the project's released tables on its source."""
    return Differencing(released, threshold).check(con, candidate)


# ---------------------------------------------------------------------- other files


_NOBS = re.compile(r"No\. Observations:\s+(\d+)")
_DF_MODEL = re.compile(r"Df Model:\s+(\d+)")
_DF_RESID = re.compile(r"Df Residuals:\s+(\d+)")


def check_other(file: RequestFile, path: Path, params: RuleParams) -> Check:
    """Tables without a query, graphs and text."""
    if file.kind == "graph":
        return Check(status="review", kind="graph", reasons=[
            "graphs are checked by eye: every plotted count or group needs enough persons"])
    if file.kind == "table":
        return _table_summary(path, params)
    text = path.read_text(encoding="utf-8")
    nobs, dfm, dfr = (_NOBS.search(text), _DF_MODEL.search(text), _DF_RESID.search(text))
    if nobs and (dfm or dfr):
        n = int(nobs.group(1))
        n_params = n - int(dfr.group(1)) if dfr else int(dfm.group(1)) + 1
        verdict = regression(n, n_params, params=params)
        return Check(status="pass" if verdict.status == "pass" else "fail",
                     kind="model_summary", reasons=[
                         f"{c['rule']}: {c}" for c in verdict.failing_cells],
                     evidence=verdict.model_dump(mode="json"))
    return Check(status="review", kind="text", reasons=[
        "free text: the checker reads it for numbers about few persons"])


def _table_summary(path: Path, params: RuleParams) -> Check:
    """OpenSAFELY-style column summaries for a table whose provenance is unknown."""
    df = read_table(path)
    summary, small = {}, []
    for col in df.columns:
        values = pd.to_numeric(df[col], errors="coerce")
        if values.notna().sum() == 0:
            continue
        nonzero = values[values != 0]
        summary[str(col)] = {
            "min": float(values.min()), "max": float(values.max()), "sum": float(values.sum()),
            "min_nonzero": float(nonzero.abs().min()) if len(nonzero) else None,
            "all_integer": bool((values.dropna() % 1 == 0).all()),
            "all_multiple_of_5": bool((values.dropna() % 5 == 0).all())}
        if summary[str(col)]["all_integer"] and ((values > 0) & (values < params.threshold)).any():
            small.append(str(col))
    reasons = ["no recorded query: contributors cannot be counted; save tables with "
               "project.save_table so the checker can re-run them"]
    if small:
        reasons.append(f"column(s) {', '.join(small)} hold integers below {params.threshold}, "
                       "possibly small counts")
    return Check(status="review", kind="table", reasons=reasons,
                 evidence={"rows": len(df), "columns": summary})


def timed(fn, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, round(time.perf_counter() - started, 3)
