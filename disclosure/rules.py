"""Primary table rules counted on units, computed in one DuckDB aggregate pass.

A *cell* is one combination of category codes, one per dimension, where each dimension may be
read at any level of its hierarchy (e.g. municipality, province, or the total). All statistics
a rule needs — distinct contributors, the (weighted) total, the top-n per-unit contributions,
negatives — come out of a single ``GROUP BY GROUPING SETS`` (no window functions, which cost
5× the time and 60× the memory on the warehouse panel; perf report §6).

Defaults are ACRO 1.0.2's (``acro/default.yaml``) so verdicts can be compared one to one.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sdwh.errors import SdwhError

TOTAL = "Total"


class RuleParams(BaseModel):
    """Risk appetite for tables. ACRO defaults; the reasons are in docs/disclosure.md."""

    model_config = ConfigDict(frozen=True)
    threshold: int = Field(10, ge=1, description="min distinct contributors per cell")
    nk_n: int = Field(2, ge=1)
    nk_k: float = Field(0.90, gt=0, le=1, description="fail if top-n share ≥ k")
    p_percent: float | None = Field(0.10, ge=0, description="p % rule, intruder = 2nd largest")
    pq: tuple[float, float] | None = Field(None, description="(p, q) prior-knowledge rule")
    zeros_disclosive: bool = True
    safe_dof: int = Field(10, ge=1)
    dominance: bool = True

    @model_validator(mode="after")
    def _pq_order(self) -> RuleParams:
        if self.pq is not None and not 0 < self.pq[0] < self.pq[1]:
            raise ValueError("the (p, q) rule needs 0 < p < q")
        return self


class TableSpec(BaseModel):
    """Dimensions of a table: name → level columns, finest first (e.g. [municipality, province]).

    ``margins`` adds the total of every dimension (all subtotals of a linked table).
    """

    dims: dict[str, list[str]]
    margins: bool = True

    @classmethod
    def flat(cls, dims: Sequence[str], margins: bool = True) -> TableSpec:
        """One level per dimension: the common case of a cross-tabulation."""
        return cls(dims={d: [d] for d in dims}, margins=margins)

    def level_choices(self) -> list[tuple[int, ...]]:
        """Every grouping set as a tuple of level indices (len(levels) = the total)."""
        ranges = [range(len(cols) + (1 if self.margins else 0)) for cols in self.dims.values()]
        return list(itertools.product(*ranges))


_BASE: list[duckdb.DuckDBPyConnection] = []
_BASE_LOCK = threading.Lock()


def cursor() -> duckdb.DuckDBPyConnection:
    """A cursor on one process-wide in-memory DuckDB: opening a database costs 20-200 ms,
    a cursor microseconds. Views registered on a cursor are private to it."""
    with _BASE_LOCK:
        if not _BASE:
            _BASE.append(duckdb.connect())
        return _BASE[0].cursor()


def _source(con: duckdb.DuckDBPyConnection, data: Any) -> str:
    """Register ``data`` as view ``src``; SQL text is taken as a query."""
    if isinstance(data, str):
        con.execute(f"CREATE OR REPLACE TEMP VIEW src AS {data}")
    elif isinstance(data, duckdb.DuckDBPyRelation):
        con.register("src", data.arrow())
    else:
        con.register("src", data)
    return "src"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def cell_stats(data: Any, spec: TableSpec, value: str | None = None, unit: str | None = None,
               weight: str | None = None, n_top: int | None = None,
               con: duckdb.DuckDBPyConnection | None = None) -> pd.DataFrame:
    """Per-cell statistics for every rule, in one aggregate pass (two when units repeat).

    Columns: one per dimension (code or ``Total``), ``<dim>__level``, ``n_units``, ``n_rows``,
    ``total`` (weighted if ``weight``), ``top`` (list of the ``n_top`` largest per-unit
    contributions; by default 2 for magnitudes and none for counts, which need no dominance),
    ``n_negative``. Without ``unit`` each row is its own contributor, as ACRO.

    A weighted magnitude (``value`` and ``weight``) also gets ``total_unweighted`` and
    ``top_unweighted``: the respondents' own values, so dominance can be judged on what each
    respondent reported as well as on the weighted estimate (:func:`apply_rules`).
    """
    if con is None:
        with cursor() as own:
            return cell_stats(data, spec, value, unit, weight, n_top, own)
    n_top = (2 if value else 0) if n_top is None else n_top
    _source(con, data)
    cols = [c for levels in spec.dims.values() for c in levels]
    needed = cols + [c for c in (value, unit, weight) if c]
    have = {r[0] for r in con.execute("DESCRIBE src").fetchall()}
    missing = [c for c in needed if c not in have]
    if missing:
        raise SdwhError(f"Column(s) {', '.join(missing)} not found in the table input.",
                        f"Available columns: {', '.join(sorted(have))}.")
    sets = ", ".join("(" + ", ".join(_set_cols(spec, ch) + ([_q(unit)] if unit else [])) + ")"
                     for ch in spec.level_choices())
    grouping = f"grouping({', '.join(_q(c) for c in cols)}) AS gid"
    w = f"CAST({_q(weight)} AS DOUBLE)" if weight else "1.0"
    v = f"CAST({_q(value)} AS DOUBLE)" if value else "1.0"
    col_sel = ", ".join(f"CAST({_q(c)} AS VARCHAR) AS {_q(c)}" for c in cols)
    pairs = [(a, b) for levels in spec.dims.values() for a, b in itertools.pairwise(levels)]
    par = "".join(f", any_value(CAST({_q(b)} AS VARCHAR)) AS {_q('par__' + a)}" for a, b in pairs)
    par_outer = "".join(f", any_value({_q('par__' + a)}) AS {_q('par__' + a)}" for a, _ in pairs)
    # a plain count needs neither products nor sign checks: keep the pass as lean as the
    # aggregation it checks
    row_total = f"sum({v} * {w})" if value or weight else "count(*)"
    both = bool(value and weight)  # a weighted magnitude: respondents' own values as well
    if unit:
        neg = f", min({v}) AS mn" if value else ""
        own = f", sum({v}) AS cu" if both else ""
        inner = (f"SELECT {col_sel}, {grouping}, count(*) AS n_rows, {row_total} AS c"
                 f"{own}{neg}{par} FROM src GROUP BY GROUPING SETS ({sets})")
        top = f", max(c, {n_top}) AS top" if n_top else ""
        top += (f", sum(cu) AS total_unweighted, max(cu, {max(n_top, 2)}) AS top_unweighted"
                if both else "")
        negs = ", count(*) FILTER (WHERE mn < 0) AS n_negative" if value else ""
        sql = (f"SELECT {', '.join(_q(c) for c in cols)}, gid{par_outer}, count(*) AS n_units, "
               f"sum(n_rows) AS n_rows, sum(c) AS total{top}{negs} FROM ({inner}) "
               f"GROUP BY {', '.join(_q(c) for c in cols)}, gid")
    else:
        top = f", max({v} * {w}, {n_top}) AS top" if n_top else ""
        top += (f", sum({v}) AS total_unweighted, max({v}, {max(n_top, 2)}) AS top_unweighted"
                if both else "")
        negs = f", count(*) FILTER (WHERE {v} < 0) AS n_negative" if value else ""
        sql = (f"SELECT {col_sel}, {grouping}{par}, count(*) AS n_units, count(*) AS n_rows, "
               f"{row_total} AS total{top}{negs} FROM src GROUP BY GROUPING SETS ({sets})")
    raw = con.execute(sql).df()
    if "top" not in raw:
        raw["top"] = [[] for _ in range(len(raw))]
    if "n_negative" not in raw:
        raw["n_negative"] = 0
    return _label_levels(raw, spec)


def _set_cols(spec: TableSpec, choice: tuple[int, ...]) -> list[str]:
    return [_q(levels[i]) for levels, i in zip(spec.dims.values(), choice, strict=True)
            if i < len(levels)]


def _label_levels(raw: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """Turn the grouping bitmask into one code column and one level column per dimension."""
    cols = [c for levels in spec.dims.values() for c in levels]
    out: dict[str, Any] = {}
    gid = raw["gid"].to_numpy()
    pos = {c: len(cols) - 1 - i for i, c in enumerate(cols)}  # bit of column c in gid
    for dim, levels in spec.dims.items():
        level = np.full(len(raw), len(levels))
        code = np.full(len(raw), TOTAL, dtype=object)
        for i in reversed(range(len(levels))):
            present = ((gid >> pos[levels[i]]) & 1) == 0
            level = np.where(present, i, level)
            code = np.where(present, raw[levels[i]].to_numpy(dtype=object), code)
        parent = np.full(len(raw), None, dtype=object)
        for i in range(len(levels)):
            up = (raw[f"par__{levels[i]}"].to_numpy(dtype=object) if i + 1 < len(levels)
                  else TOTAL)
            if i + 1 < len(levels) or spec.margins:
                parent = np.where(level == i, up, parent)
        out[dim] = code
        out[f"{dim}__level"] = level
        out[f"{dim}__parent"] = parent
    for c in ("n_units", "n_rows", "top", "n_negative"):
        out[c] = raw[c].to_numpy()
    out["total"] = raw["total"].to_numpy(dtype=float)
    if "top_unweighted" in raw:
        out["total_unweighted"] = raw["total_unweighted"].to_numpy(dtype=float)
        out["top_unweighted"] = raw["top_unweighted"].to_numpy()
    order = np.lexsort([out[d].astype(str) for d in reversed(spec.dims)])
    return pd.DataFrame({c: v[order] for c, v in out.items()})


def add_zero_cells(stats: pd.DataFrame, spec: TableSpec,
                   structural_zeros: Sequence[Mapping[str, str]] = ()) -> pd.DataFrame:
    """Add the empty cells of the full cross-classification (count 0) so zeros can be judged.

    Valid codes per (dimension, level) are those seen in the data; a cell listed in
    ``structural_zeros`` (e.g. ``{"sex": "M", "cause": "pregnancy"}``) is marked structural:
    it is empty by definition, so publishing it reveals nothing. Plain Python over the cells
    (never the rows): for the small tables checked most often this beats any join.
    """
    dims = list(spec.dims)
    code = {d: stats[d].to_numpy(dtype=object) for d in dims}
    level = {d: stats[f"{d}__level"].to_numpy() for d in dims}
    parent = {d: stats[f"{d}__parent"].to_numpy(dtype=object) for d in dims}
    parent_of: dict[str, dict[tuple[Any, int], Any]] = {d: {} for d in dims}
    codes: dict[tuple[str, int], set] = {(d, lv): set() for d in dims
                                         for lv in range(len(spec.dims[d]) + 1)}
    for d in dims:
        for c, lv, par in zip(code[d], level[d].tolist(), parent[d], strict=True):
            codes[(d, lv)].add(c)
            parent_of[d].setdefault((c, lv), par)
    keys = [x for d in dims for x in (code[d], level[d].tolist())]
    index = {key: i for i, key in enumerate(zip(*keys, strict=True))}
    grid: list[tuple] = []
    for choice in spec.level_choices():
        lists = [sorted(codes[(d, lv)]) for d, lv in zip(dims, choice, strict=True)]
        for combo in itertools.product(*lists):
            grid.append(tuple(x for c, lv in zip(combo, choice, strict=True) for x in (c, lv)))
    at = np.fromiter((index.get(key, -1) for key in grid), dtype=np.int64, count=len(grid))
    empty = at < 0
    take = np.where(empty, 0, at)
    cols = list(zip(*grid, strict=True)) if grid else [()] * (2 * len(dims))
    full: dict[str, Any] = {}
    for k, d in enumerate(dims):
        full[d] = np.array(cols[2 * k], dtype=object)
        full[f"{d}__level"] = np.array(cols[2 * k + 1], dtype=np.int64)
        full[f"{d}__parent"] = np.array(
            [parent_of[d][(c, lv)] for c, lv in zip(cols[2 * k], cols[2 * k + 1], strict=True)],
            dtype=object)
    for c in ("n_units", "n_rows", "n_negative"):
        full[c] = np.where(empty, 0, stats[c].to_numpy()[take] if len(stats) else 0).astype(
            np.int64)
    full["total"] = np.where(empty, 0.0, stats["total"].to_numpy(dtype=float)[take]
                             if len(stats) else 0.0)
    tops = stats["top"].tolist() if len(stats) else []
    full["top"] = [[] if e or not isinstance(tops[t], list | np.ndarray) else tops[t]
                   for e, t in zip(empty, take, strict=True)]
    weighted = "top_unweighted" in stats
    if weighted:  # a weighted magnitude keeps its respondents' own values (apply_rules)
        full["total_unweighted"] = np.where(
            empty, 0.0, stats["total_unweighted"].to_numpy(dtype=float)[take]
            if len(stats) else 0.0)
        own = stats["top_unweighted"].tolist() if len(stats) else []
        full["top_unweighted"] = [[] if e or not isinstance(own[t], list | np.ndarray)
                                  else own[t] for e, t in zip(empty, take, strict=True)]
    structural = np.zeros(len(grid), dtype=bool)
    for cell in structural_zeros:
        mask = empty.copy()
        for d, value in cell.items():
            mask &= full[d] == str(value)
        structural |= mask
    full["structural_zero"] = structural
    order = np.lexsort([full[d].astype(str) for d in reversed(dims)])
    tops = full.pop("top")
    own = full.pop("top_unweighted", None)
    tops_sorted = [tops[i] for i in order]
    frame = pd.DataFrame({c: v[order] for c, v in full.items()})
    frame.insert(frame.columns.get_loc("total") + 1, "top", tops_sorted)
    if weighted:
        frame["top_unweighted"] = [own[i] for i in order]
    return frame


def apply_rules(stats: pd.DataFrame, params: RuleParams, magnitude: bool) -> pd.DataFrame:
    """Add one boolean column per rule, a ``status`` (pass/fail/review) and the failing rules.

    ACRO's comparison operators are kept: threshold ``n < t``; NK ``top-n share ≥ k``;
    p % ``(total − x1 − x2)/x1 < p``. Cells with negative contributions get ``review``:
    dominance is undefined for them (ACRO, sdcTable).

    Survey weights: the threshold always counts distinct units, unweighted. Dominance is
    judged on the weighted contributions (what the published estimate is made of) and, when
    ``stats`` carries ``top_unweighted`` (a weighted magnitude), also on the respondents' own
    unweighted values: a cell fails if either is dominated, so small weights cannot hide a
    dominant respondent and large ones cannot create a false sense of safety.
    """
    out = stats.copy()
    x1, x2, topn, share, ratio = _dominance(out["top"], out["total"], params)
    n = out["n_units"].to_numpy()
    zero = n == 0
    structural = out.get("structural_zero", pd.Series(False, index=out.index)).to_numpy()
    out["rule_threshold"] = (n < params.threshold) & ~zero
    out["rule_zero"] = zero & ~structural & params.zeros_disclosive
    has_neg = out["n_negative"].to_numpy() > 0
    dom = magnitude and params.dominance
    bases = [(share, ratio)]
    if "top_unweighted" in out:
        _, _, _, u_share, u_ratio = _dominance(out["top_unweighted"], out["total_unweighted"],
                                               params)
        bases.append((u_share, u_ratio))
    nk = np.zeros(len(out), dtype=bool)
    p_pct = np.zeros(len(out), dtype=bool)
    pq_rule = np.zeros(len(out), dtype=bool)
    for s, r in bases:
        nk |= np.nan_to_num(s, nan=0.0) >= params.nk_k
        if params.p_percent is not None:
            p_pct |= r < params.p_percent
        if params.pq is not None:
            pq_rule |= r < params.pq[0] / params.pq[1]
    out["rule_nk"] = dom & ~has_neg & nk
    out["rule_p_percent"] = dom & ~has_neg & p_pct
    out["rule_pq"] = dom & ~has_neg & pq_rule
    out["rule_negative"] = dom & has_neg
    out["x1"], out["x2"], out["topn_sum"] = x1, x2, topn
    rule_cols = ["rule_threshold", "rule_zero", "rule_nk", "rule_p_percent", "rule_pq"]
    fail = out[rule_cols].any(axis=1)
    out["status"] = np.where(fail, "fail", np.where(out["rule_negative"], "review", "pass"))
    names = np.array([c.removeprefix("rule_") for c in [*rule_cols, "rule_negative"]])
    flags = out[[*rule_cols, "rule_negative"]].to_numpy()
    out["failed_rules"] = [",".join(names[row]) for row in flags]
    return out


def _dominance(tops: pd.Series, totals: pd.Series, params: RuleParams
               ) -> tuple[np.ndarray, ...]:
    """x1, x2, top-n sum, top-n share of the total and the p % ratio (total − x1 − x2)/x1."""
    top = [np.sort(np.asarray(t, dtype=float))[::-1] for t in tops]
    x1 = np.array([t[0] if len(t) > 0 else 0.0 for t in top])
    x2 = np.array([t[1] if len(t) > 1 else 0.0 for t in top])
    topn = np.array([t[: params.nk_n].sum() for t in top])
    total = totals.to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(total != 0, topn / total, np.nan)
        ratio = np.where(x1 != 0, (total - x1 - x2) / x1, 1.0)
    return x1, x2, topn, share, ratio


def required_protection(cells: pd.DataFrame, params: RuleParams, magnitude: bool) -> np.ndarray:
    """Upper protection level per primary cell: how far an intruder's bound must stay away.

    p % rule: p·x1 − (total − x1 − x2) (τ-Argus / Cox); NK: total·(1/k) scaled top-n excess;
    small counts: t − n, so the intruder's upper bound reaches the threshold and the cell
    cannot be proven small; zero cells: 1 (it cannot be proven empty); small magnitude cells:
    10 % of the value (τ-Argus' default safety range). The maximum over the failing rules.
    """
    total = cells["total"].to_numpy(dtype=float)
    need = np.zeros(len(cells))
    if magnitude:
        x1, x2 = cells["x1"].to_numpy(), cells["x2"].to_numpy()
        rest = total - x1 - x2
        if params.p_percent is not None:
            need = np.maximum(need, np.where(cells["rule_p_percent"],
                                             params.p_percent * x1 - rest, 0))
        if params.pq is not None:
            need = np.maximum(need, np.where(cells["rule_pq"],
                                             params.pq[0] / params.pq[1] * x1 - rest, 0))
        nk = cells["topn_sum"].to_numpy() / params.nk_k - total
        need = np.maximum(need, np.where(cells["rule_nk"], nk, 0))
        small = cells["rule_threshold"].to_numpy() | cells["rule_zero"].to_numpy()
        need = np.maximum(need, np.where(small, np.maximum(0.1 * np.abs(total), 1e-9), 0))
    else:
        n = cells["n_units"].to_numpy()
        need = np.where(cells["rule_threshold"], np.maximum(params.threshold - n, 1), 0.0)
        need = np.where(cells["rule_zero"], 1.0, need)
    return np.maximum(need, 0.0)
