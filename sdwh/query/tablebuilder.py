"""The table builder: a request names dimensions, levels, filters and measures of a product;
the answer is computed from the product's cube and protected cell by cell.

The cube holds, per finest cell, the count of distinct persons and the sum of their record keys
(mod 2**56) for every measure. A coarser cell is a sum of finest cells, and because each person
is in exactly one finest cell per quarter, both its count and its key sum are exact; its noise is
therefore the same however the cell is asked for (as a total, through a filter, at another level
of the hierarchy). A quarter must be a dimension or a single-quarter filter: summing over
quarters would count a person once per quarter.

Request values reach SQL only as bound parameters; column names come from the catalogue.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from sdwh.errors import SdwhError
from sdwh.query.cellkeys import MODULUS, SUPPRESSED, protect_counts, ratio_columns
from sdwh.query.products import Catalogue, Product, column_name

TOTAL = "_T"
DIM_SPEC = re.compile(r"^([a-z][a-z0-9_]*)(?::([a-z][a-z0-9_]*))?$")


class TableRequest(BaseModel):
    """What a policy analyst asks: ``dims`` as ``dim`` or ``dim:level``; ``filters`` keyed the
    same way, each with the codes to keep; ``measures`` by id (default: all)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    product: str = Field(max_length=40)
    dims: tuple[str, ...] = Field(min_length=1, max_length=8)
    measures: tuple[str, ...] = Field(default=(), max_length=16)
    filters: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    totals: bool = False

    @field_validator("dims")
    @classmethod
    def _dims_syntax(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for d in v:
            if not DIM_SPEC.match(d):
                raise ValueError(f"'{d}' is not 'dimension' or 'dimension:level'")
        return v

    @field_validator("filters")
    @classmethod
    def _filters_syntax(cls, v: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        if len(v) > 8:
            raise ValueError("at most 8 filters")
        for key, codes in v.items():
            if not DIM_SPEC.match(key):
                raise ValueError(f"filter '{key}' is not 'dimension' or 'dimension:level'")
            if not 1 <= len(codes) <= 500 or any(len(c) > 40 for c in codes):
                raise ValueError(f"filter '{key}' needs 1-500 codes of at most 40 characters")
        return v

    def cache_key(self) -> tuple[Any, ...]:
        return (self.product, self.dims, self.measures,
                tuple(sorted((k, tuple(sorted(set(c)))) for k, c in self.filters.items())),
                self.totals)


@dataclass(frozen=True)
class Axis:
    dim: str
    level: str
    column: str
    codelist: str
    title: str


@dataclass
class TableResult:
    """A protected table, held by column: the axes' codes, then per measure its values and
    flags, all in row-major order of the axes' codes (``records`` gives one dict per cell)."""

    product: Product
    axes: list[Axis]
    measures: list[str]
    derived: list[str]
    columns: dict[str, list[Any]]
    filters: dict[str, list[str]]
    totals: bool
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def n_cells(self) -> int:
        return len(next(iter(self.columns.values()), []))

    @property
    def records(self) -> list[dict[str, Any]]:
        rows = zip(*self.columns.values(), strict=True)
        return list(map(dict, map(zip, itertools.repeat(list(self.columns)), rows)))

    def n_suppressed(self) -> int:
        return sum(self.columns[f"{m}_flag"].count(SUPPRESSED) for m in self.measures)


def _split(spec: str) -> tuple[str, str | None]:
    m = DIM_SPEC.match(spec)
    if not m:
        raise SdwhError(f"'{spec}' is not 'dimension' or 'dimension:level'.", "")
    return m.group(1), m.group(2)


def _axis(product: Product, spec: str) -> Axis:
    dim_id, level_id = _split(spec)
    dim = product.dimension(dim_id)
    level = dim.level(level_id)
    return Axis(dim.id, level.id, column_name(dim.id, level.id), level.codelist, dim.title)


def plan(catalogue: Catalogue, req: TableRequest) -> tuple[Product, list[Axis], list[str],
                                                           list[str], list[tuple[Axis, tuple]]]:
    """Check a request against the catalogue: product, axes, measures, derived, filters."""
    product = catalogue.product(req.product)
    axes = [_axis(product, d) for d in req.dims]
    if len({a.dim for a in axes}) != len(axes):
        raise SdwhError("A dimension appears twice in 'dims'.",
                        "Ask each dimension once, at one level.")
    filters = [(_axis(product, k), tuple(dict.fromkeys(v))) for k, v in req.filters.items()]
    counts = set(product.measure_ids())
    ratios = {d.id: d for d in product.derived}
    wanted = list(dict.fromkeys(req.measures)) or [*product.measure_ids(), *ratios]
    unknown = [m for m in wanted if m not in counts and m not in ratios]
    if unknown:
        raise SdwhError(f"Product '{product.id}' has no measure {', '.join(unknown)}.",
                        f"Measures: {', '.join([*counts, *ratios])}.")
    derived = [m for m in wanted if m in ratios]
    needed = [m for m in wanted if m in counts]
    for d in derived:
        for part in (ratios[d].numerator, ratios[d].denominator):
            if part not in needed:
                needed.append(part)
    quarter_filter = [codes for a, codes in filters if a.dim == "quarter"]
    if not any(a.dim == "quarter" for a in axes) and not (
            len(quarter_filter) == 1 and len(quarter_filter[0]) == 1):
        raise SdwhError("A table must have 'quarter' as a dimension or filter one quarter.",
                        "Persons are counted once per quarter; add dims=quarter or "
                        "filter=quarter:2025Q1.")
    return product, axes, needed, derived, filters


def _grouping_sets(axes: list[Axis], totals: bool) -> list[list[Axis]]:
    if not totals:
        return [axes]
    fixed = [a for a in axes if a.dim == "quarter"]
    free = [a for a in axes if a.dim != "quarter"]
    sets = []
    for r in range(len(free), -1, -1):
        for combo in itertools.combinations(free, r):
            sets.append([a for a in axes if a in fixed or a in combo])
    return sets


#: Per product, the cube tables that can answer a request, smallest first, with the
#: dimensions each holds (the full cube holds all). Built by ``cube_navigator``.
Navigator = dict[str, list[tuple[str, frozenset[str]]]]


def cube_navigator(con: duckdb.DuckDBPyConnection, catalogue: Catalogue) -> Navigator:
    """Which table to read for which dimensions: a rollup (the cube summed over the
    dimensions it leaves out) answers exactly as the full cube does, from fewer rows."""
    sizes = dict(con.execute("SELECT table_name, estimated_size FROM duckdb_tables()").fetchall())
    nav: Navigator = {}
    for p in catalogue.products:
        options = [(p.cube_table, frozenset(d.id for d in p.dimensions))]
        options += [(p.rollup_table(i), frozenset(r)) for i, r in enumerate(p.rollups)
                    if p.rollup_table(i) in sizes]
        nav[p.id] = sorted(options, key=lambda o: (sizes.get(o[0], 0), o[0]))
    return nav


def choose_table(product: Product, dims: set[str], navigator: Navigator | None) -> str:
    return _choose(product, dims, navigator)[0]


def _choose(product: Product, dims: set[str], navigator: Navigator | None
            ) -> tuple[str, frozenset[str]]:
    """The smallest table holding ``dims``, and the dimensions it holds."""
    for table, held in (navigator or {}).get(product.id, []):
        if dims <= held:
            return table, held
    return product.cube_table, frozenset(d.id for d in product.dimensions)


def at_grain(product: Product, axes: list[Axis], filters: list[tuple[Axis, tuple]],
             totals: bool, held: frozenset[str]) -> bool:
    """Whether the table's rows already are the requested cells: it holds exactly the axes'
    dimensions, each asked at its finest level (coarser levels are functions of it), filters
    only on those, no totals. Then no GROUP BY is needed (a sum over one row is that row)."""
    return (not totals and held == {a.dim for a in axes}
            and all(a.level == product.dimension(a.dim).levels[0].id for a in axes)
            and all(f.dim in held for f, _ in filters))


def aggregate_sql(product: Product, axes: list[Axis], measures: list[str],
                  filters: list[tuple[Axis, tuple]], totals: bool,
                  table: str | None = None, grain: bool = False) -> tuple[str, list[Any]]:
    """SQL over the cube (names from the catalogue, codes as parameters); ``grain``: the
    table's rows are the cells (``at_grain``), read them without aggregating."""
    cols = [f'"{a.column}"' for a in axes]
    select = [f'"{a.column}"' for a in axes]
    select += [f"grouping({c}) AS g{i}" for i, c in enumerate(cols)] if totals else []
    for m in measures:
        select += ([f"n_{m}", f"k_{m}"] if grain else
                   [f"sum(n_{m})::BIGINT AS n_{m}", f"(sum(k_{m}) % {MODULUS})::BIGINT AS k_{m}"])
    params: list[Any] = []
    where = []
    for axis, codes in filters:
        where.append(f'"{axis.column}" IN (SELECT unnest(?::VARCHAR[]))')
        params.append(list(codes))
    sql = f"SELECT {', '.join(select)} FROM {table or product.cube_table}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    if totals:
        sets = ", ".join("(" + ", ".join(f'"{a.column}"' for a in s) + ")"
                         for s in _grouping_sets(axes, totals))
        sql += f" GROUP BY GROUPING SETS ({sets})"
    elif not grain:
        sql += " GROUP BY " + ", ".join(cols)
    return sql, params


def build_table(con: duckdb.DuckDBPyConnection, catalogue: Catalogue, req: TableRequest,
                max_cells: int = 100_000, navigator: Navigator | None = None) -> TableResult:
    """Compute and protect the table ``req`` asks for, from the cube database ``con``."""
    product, axes, measures, derived, filters = plan(catalogue, req)
    table, held = _choose(product, {a.dim for a in axes} | {a.dim for a, _ in filters},
                          navigator)
    sql, params = aggregate_sql(product, axes, measures, filters, req.totals, table,
                                at_grain(product, axes, filters, req.totals, held))
    data = con.execute(sql, params).fetchnumpy()  # by column: no Python object per value
    k = len(axes)
    n_rows = len(data[axes[0].column]) if axes else 0
    codes: list[list[str]] = []
    position = np.zeros(n_rows, dtype=np.int64)  # each answered cell's place in the grid
    located = []
    for i, a in enumerate(axes):
        col = np.ma.getdata(data[a.column]).astype(object)
        total = (data[f"g{i}"] == 1) if req.totals else np.zeros(n_rows, dtype=bool)
        seen = np.unique(col[~total])  # sorted, as sorted() sorts strings
        codes.append([str(c) for c in seen]
                     + ([TOTAL] if req.totals and a.dim != "quarter" else []))
        found = np.searchsorted(seen, np.where(total, seen[0] if len(seen) else "", col))
        located.append(np.where(total, len(seen), found).astype(np.int64))
    _check_size(codes, max_cells)
    size = n_rows and _size(codes)
    stride = 1
    for i in range(k - 1, -1, -1):  # row-major, first axis slowest
        position += stride * located[i]
        stride *= len(codes[i])
    threshold = product.disclosure.threshold
    pt = product.disclosure.ptable
    columns: dict[str, list[Any]] = {}
    for i, a in enumerate(axes):
        inner = int(np.prod([len(c) for c in codes[i + 1:]], dtype=np.int64))
        outer = size // (inner * len(codes[i])) if size else 0
        columns[a.dim] = np.tile(np.repeat(np.array(codes[i], dtype=object), inner),
                                 outer).tolist()
    counts: dict[str, list[int | None]] = {}
    for m in measures:
        n = np.zeros(size, dtype=np.int64)
        keys = np.zeros(size, dtype=np.int64)  # key sums arrive reduced mod 2**56
        if size:
            n[position] = data[f"n_{m}"]
            keys[position] = data[f"k_{m}"]
        protected = protect_counts(n, keys, threshold, pt.D, pt.V)
        counts[m] = protected.values
        columns[m], columns[f"{m}_flag"] = protected.values, protected.flags
    ratios = {d.id: d for d in product.derived}
    for d in derived:
        columns[d], columns[f"{d}_flag"] = ratio_columns(counts[ratios[d].numerator],
                                                         counts[ratios[d].denominator])
    shown = [m for m in dict.fromkeys(req.measures or product.measure_ids())
             if m in product.measure_ids()]
    for m in measures:
        if m not in shown:
            del columns[m], columns[f"{m}_flag"]
    return TableResult(product=product, axes=axes, measures=shown, derived=derived,
                       columns=columns, filters={a.dim + ":" + a.level: list(c)
                                                 for a, c in filters},
                       totals=req.totals)


def _size(codes: list[list[str]]) -> int:
    size = 1
    for c in codes:
        size *= max(len(c), 1)
    return size


def _check_size(codes: list[list[str]], max_cells: int) -> None:
    size = _size(codes)
    if size > max_cells:
        raise SdwhError(f"The table would have {size:,} cells; the limit is {max_cells:,}.",
                        "Choose coarser levels or filter some dimensions.")
