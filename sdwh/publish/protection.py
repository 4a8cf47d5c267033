"""Disclosure control of the publication tables: primary + secondary suppression, audited.

The publication models hold pre-aggregated cells. One *problem* covers the cells of one
independent table (e.g. one quarter × age band) of one or more linked indicators. Its
variables are every (cell, count table) pair: the published counts, their complements
(residents not working, …), with the additivity rows of each count table (T = M + F; a
municipality total is the sum of its parts, …), the identities ``complement = plus − minus``
inside a cell, and links between indicators that publish the same count (working residents
20-64 appear in the employment rate and the work shares). ``disclosure.protect`` then finds
a suppression pattern; a cell is suppressed whole (all its measures) when any of its
variables is, which only grows the pattern, and the grown pattern is audited by LP again.
"""

from __future__ import annotations

import csv
import heapq
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import highspy
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from disclosure.audit import verify_witnesses
from disclosure.protect import TOL, CellProblem, cost_vector, protect_fast
from disclosure.rules import RuleParams, apply_rules, required_protection
from sdwh.errors import SdwhError
from sdwh.publish.indicators import CountTable, Indicator

REGION = "02000"


@dataclass(frozen=True)
class GeoParents:
    """Parent area of every REFNIS code (2025 boundaries), from the code-list seeds."""

    parent: dict[str, str]

    @classmethod
    def from_seeds(cls, seeds_dir: Path) -> GeoParents:
        parent: dict[str, str] = {}
        with (seeds_dir / "refnis_municipality_flanders_2025.csv").open() as fh:
            for row in csv.DictReader(fh):
                parent[row["refnis"]] = row["arrondissement_refnis"]
        with (seeds_dir / "refnis_arrondissement_flanders.csv").open() as fh:
            for row in csv.DictReader(fh):
                parent[row["refnis"]] = row["province_refnis"]
        with (seeds_dir / "refnis_province_region.csv").open() as fh:
            for row in csv.DictReader(fh):
                if row["level"] == "province":
                    parent[row["refnis"]] = row["parent_refnis"]
        return cls(parent)


def additivity_groups(ind: Indicator, cells: pd.DataFrame,
                      geo: GeoParents) -> list[tuple[int, list[int]]]:
    """(total row, its parts' rows) for every additive relation among the cells."""
    groups: list[tuple[int, list[int]]] = []
    if ind.additivity == "breakdowns":
        total = cells.index[(cells["breakdown"] == "total")]
        if len(total):
            for _, part in cells[cells["breakdown"] != "total"].groupby("breakdown", sort=True):
                groups.append((int(total[0]), [int(i) for i in part.index]))
        return groups
    if ind.additivity != "sex_geo":
        raise ValueError(ind.additivity)
    key = {(s, g): int(i) for i, s, g in zip(cells.index, cells["sex_code"], cells["geo_refnis"],
                                             strict=True)}
    for (sex, code), row in sorted(key.items()):
        if sex == "T":
            parts = [key[(s, code)] for s in ("M", "F") if (s, code) in key]
            groups.append((row, parts))
    children: dict[tuple[str, str], list[int]] = defaultdict(list)
    present = set(cells["geo_refnis"])
    for (sex, code), row in sorted(key.items()):
        up = geo.parent.get(code)
        # the work shares skip arrondissements: a province's parts are then its provinces'
        while up is not None and up not in present:
            up = geo.parent.get(up)
        if up is not None and (sex, up) in key:
            children[(sex, up)].append(row)
    for (sex, up), rows in sorted(children.items()):
        groups.append((key[(sex, up)], rows))
    return groups


@dataclass
class Block:
    """The cells of one indicator inside a joint problem."""

    indicator: Indicator
    cells: pd.DataFrame  # rows of the model, index 0..n-1
    offset: int = 0  # first variable of this block


def _table_values(cells: pd.DataFrame, table: CountTable) -> tuple[np.ndarray, np.ndarray]:
    """Counts of a protected table and the distinct persons behind them (NaN: not defined)."""
    plus = cells[table.plus].to_numpy(dtype=float)
    value = plus - cells[table.minus].to_numpy(dtype=float) if table.minus is not None else plus
    units = cells[table.units].to_numpy(dtype=float) if table.units else value
    return value, units


def build_joint_problem(blocks: Sequence[Block], geo: GeoParents, params: RuleParams,
                        links: Sequence[tuple[str, str, str, str, Sequence[str]]] = ()
                        ) -> tuple[CellProblem, pd.DataFrame]:
    """One CellProblem for linked indicators; returns it with a variable index frame.

    ``links``: (indicator a, table a, indicator b, table b, key columns): cells with equal
    keys hold the same count in both. Relations are numbered block by block, table by table
    (additivity), then the complement identities, then the links: a fixed order, so the
    problem and everything solved on it are deterministic.
    """
    ind_parts: list[np.ndarray] = []
    table_parts: list[np.ndarray] = []
    cell_parts: list[np.ndarray] = []
    defined_parts: list[np.ndarray] = []
    value_parts: list[np.ndarray] = []
    unit_parts: list[np.ndarray] = []
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    n_eq = 0
    where: dict[tuple[str, str], tuple[int, int]] = {}  # (indicator, table) -> (start, n)
    start = 0
    for block in blocks:
        n = len(block.cells)
        for table in block.indicator.protected:
            v, u = _table_values(block.cells, table)
            defined = ~np.isnan(v)
            where[(block.indicator.id, table.id)] = (start, n)
            ind_parts.append(np.full(n, block.indicator.id, dtype=object))
            table_parts.append(np.full(n, table.id, dtype=object))
            cell_parts.append(np.arange(n))
            defined_parts.append(defined)
            value_parts.append(np.where(defined, v, 0.0))
            unit_parts.append(np.where(defined, u, 0.0))
            start += n
    for block in blocks:
        groups = additivity_groups(block.indicator, block.cells, geo)
        totals = np.array([t for t, _ in groups], dtype=np.int64)
        sizes = np.array([len(p) for _, p in groups], dtype=np.int64)
        parts = np.array([i for _, p in groups for i in p], dtype=np.int64)
        owner = np.repeat(np.arange(len(groups)), sizes)
        for table in block.indicator.protected:
            s, _ = where[(block.indicator.id, table.id)]
            defined = ~np.isnan(_table_values(block.cells, table)[0])
            # e.g. no labour force for the unemployment-duration breakdown
            missing = np.bincount(owner, weights=(~defined[parts]).astype(float),
                                  minlength=len(groups))
            keep = defined[totals] & (missing == 0) if len(groups) else np.zeros(0, bool)
            number = np.cumsum(keep) - 1 + n_eq
            rows.append(number[keep])
            cols.append(s + totals[keep])
            vals.append(np.full(int(keep.sum()), -1.0))
            take = keep[owner]
            rows.append(number[owner[take]])
            cols.append(s + parts[take])
            vals.append(np.ones(int(take.sum())))
            n_eq += int(keep.sum())
        # complement identities: plus − minus − complement = 0 inside a cell
        by_column = {t.plus: t.id for t in block.indicator.protected if t.minus is None}
        for table in block.indicator.protected:
            if table.minus is None:
                continue
            s_c, n = where[(block.indicator.id, table.id)]
            s_p, _ = where[(block.indicator.id, by_column[table.plus])]
            s_m, _ = where[(block.indicator.id, by_column[table.minus])]
            defined = np.flatnonzero(~np.isnan(_table_values(block.cells, table)[0]))
            number = n_eq + np.arange(len(defined))
            rows.append(np.repeat(number, 3))
            cols.append(np.column_stack([s_p + defined, s_m + defined, s_c + defined]).ravel())
            vals.append(np.tile([1.0, -1.0, -1.0], len(defined)))
            n_eq += len(defined)
    by_id = {b.indicator.id: b for b in blocks}
    for ind_a, tab_a, ind_b, tab_b, keys in links:
        if ind_a not in by_id or ind_b not in by_id:
            continue
        a, b = by_id[ind_a].cells, by_id[ind_b].cells
        s_a, _ = where[(ind_a, tab_a)]
        s_b, _ = where[(ind_b, tab_b)]
        index_a = {tuple(r): i for i, r in enumerate(a[list(keys)].itertuples(index=False))}
        for j, r in enumerate(b[list(keys)].itertuples(index=False)):
            i = index_a.get(tuple(r))
            if i is not None:
                rows.append(np.array([n_eq, n_eq]))
                cols.append(np.array([s_a + i, s_b + j]))
                vals.append(np.array([1.0, -1.0]))
                n_eq += 1
    value_arr, unit_arr = np.concatenate(value_parts), np.concatenate(unit_parts)
    A = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(n_eq, len(value_arr)))
    stats = pd.DataFrame({"n_units": unit_arr.astype(np.int64), "total": value_arr,
                          "top": [[]] * len(value_arr), "n_negative": 0,
                          "structural_zero": False})
    checked = apply_rules(stats, params, magnitude=False)
    index = pd.DataFrame({"indicator": np.concatenate(ind_parts),
                          "table": np.concatenate(table_parts),
                          "cell": np.concatenate(cell_parts),
                          "defined": np.concatenate(defined_parts)})
    primary = (checked["status"] != "pass").to_numpy() & index["defined"].to_numpy()
    upper = np.where(primary, required_protection(checked, params, magnitude=False), 0.0)
    index["rule"] = np.where(primary, checked["failed_rules"], "")
    problem = CellProblem(values=value_arr, A=A, primary=primary, upper=upper,
                          lower=np.zeros(len(value_arr)), cost=cost_vector(value_arr, "value"))
    residual = A @ value_arr
    if np.abs(residual).max(initial=0.0) > 1e-6:
        bad = int(np.argmax(np.abs(residual)))
        raise SdwhError(f"publication cells do not add up (relation {bad} is off by "
                        f"{residual[bad]:g}).",
                        "Rebuild the warehouse (`sdwh build`); the publication models must "
                        "be additive before disclosure control.")
    return problem, index


def close_singletons(A: sparse.csr_matrix, suppressed: np.ndarray, group: np.ndarray,
                     cost: np.ndarray, deadline: float | None = None) -> np.ndarray:
    """Suppress until no relation has exactly one suppressed member (a lone one is derivable).

    A relation with one suppressed member gives that member away by subtraction; the cheapest
    other member (whole cell: ``group`` ties a cell's variables together) joins it. This is the
    classic hypercube rule; it is necessary, not sufficient, so the audit decides after it.

    Relations are closed **one at a time**, in relation order, sweep after sweep, each seeing
    the cells the ones before it suppressed. A cell sits in one relation per count table
    (NWWZ, labour force, working), and their cheapest partners differ when the tables order
    the cells differently; closing every lone relation at once would suppress each of those
    partners, where one suppressed partner closes all of them. Only relations that just got
    their first suppressed member are revisited, so the cost follows the cells suppressed,
    not the size of the table; the pattern is the same as scanning every relation per sweep.
    """
    out = suppressed.copy()
    A = A.tocsr().sorted_indices()  # among equally cheap members, the lowest column joins
    indptr, indices = A.indptr, A.indices
    per_row = np.diff(indptr)
    owner = np.repeat(np.arange(A.shape[0]), per_row)
    count = np.bincount(owner, weights=out[indices].astype(float),
                        minlength=A.shape[0]).astype(np.int64)
    by_col = A.tocsc()
    col_ptr, col_rows = by_col.indptr, by_col.indices
    by_group = np.argsort(group, kind="stable")
    group_ptr = np.searchsorted(group[by_group], np.arange(int(group.max(initial=-1)) + 2))
    # a relation becomes lone once at most (counts only grow), so each is visited a few times
    sweep = np.flatnonzero((count == 1) & (per_row > 1)).tolist()
    while sweep:
        later: list[int] = []
        heapq.heapify(sweep)
        while sweep:
            r = heapq.heappop(sweep)
            if count[r] != 1 or per_row[r] < 2:
                continue  # closed by a cell suppressed for an earlier relation
            _check(deadline, "singleton closing")
            members = indices[indptr[r]:indptr[r + 1]]
            open_ = members[~out[members]]
            pick = int(open_[np.argmin(cost[open_])])
            g = int(group[pick])
            joined = by_group[group_ptr[g]:group_ptr[g + 1]]
            joined = joined[~out[joined]]
            out[joined] = True
            for c in joined.tolist():
                for r2 in col_rows[col_ptr[c]:col_ptr[c + 1]].tolist():
                    count[r2] += 1
                    if count[r2] == 1 and per_row[r2] > 1:
                        # ahead of r: still in this sweep; behind it: the next sweep
                        (heapq.heappush(sweep, r2) if r2 > r else later.append(r2))
        sweep = later
    return out


def witness_audit(problem: CellProblem, suppressed: np.ndarray,
                  only: np.ndarray | None = None, exact: bool = True,
                  deadline: float | None = None) -> np.ndarray:
    """Intruder's proven upper bound per primary (≥ need means protected), by few LPs.

    The intruder solves ``max z_p`` over ``{z ≥ 0, A z = 0, published z = a}``. Any feasible
    ``z`` is a witness that the maximum is at least ``z_p``; one LP maximising the (scaled) sum
    over all unproven primaries usually proves most of them at once. Primaries still unproven
    get their own exact LP (``exact=False`` skips those: a first look at a pattern that will
    be repaired anyway). Returns the witnessed bound (∞ when unbounded) for every variable
    (``only``: just these primaries; the others keep their value as bound). Past
    ``deadline`` (``time.perf_counter()``) it raises TimeoutError.
    """
    n = len(problem.values)
    bound = problem.values.copy()
    need = problem.values + problem.upper
    wanted = problem.primary & suppressed & (problem.upper > 0)
    targets = np.flatnonzero(wanted if only is None else wanted & only)
    if not len(targets):
        return bound
    sup = np.flatnonzero(suppressed)
    pos = np.full(n, -1)
    pos[sup] = np.arange(len(sup))
    A = problem.A.tocsc()
    rhs = -(A[:, ~suppressed] @ problem.values[~suppressed])
    sub = A[:, sup].tocsr()
    keep = np.diff(sub.indptr) > 0
    sub, rhs = sub[keep], rhs[keep]
    # the published cells cut the problem into independent parts (often one per province):
    # a feasible point of each part is one of the whole, and small LPs are much faster
    pattern = abs(sub)
    _, part = connected_components(pattern.T @ pattern, directed=False)
    row_part = part[sub.indices[sub.indptr[:-1]]]
    for label in np.unique(part[pos[targets]]):
        cols = np.flatnonzero(part == label)
        rows = np.flatnonzero(row_part == label)
        mine = targets[part[pos[targets]] == label]
        local = np.searchsorted(cols, pos[mine])
        bound[mine] = np.maximum(bound[mine], _witness_lp(
            sub[rows][:, cols], rhs[rows], local, need[mine], exact, deadline))
    return bound


def _witness_lp(sub: sparse.csr_matrix, rhs: np.ndarray, targets: np.ndarray,
                need: np.ndarray, exact: bool = True, deadline: float | None = None
                ) -> np.ndarray:
    """Largest value witnessed for each target column of ``{z ≥ 0, sub z = rhs}`` (∞: unbounded).

    Columns: z, then t_k ≤ min(z_k, need_k) for every target k; maximising Σ t_k / need_k
    pushes as many targets as possible to their need at once. Targets never reached that way
    get an exact LP each (when ``exact``).
    """
    m, k = sub.shape[0], len(targets)
    nz = sub.shape[1]
    best = np.zeros(k)
    link = sparse.csr_matrix((np.concatenate([np.ones(k), -np.ones(k)]),
                              (np.concatenate([np.arange(k), np.arange(k)]),
                               np.concatenate([targets, nz + np.arange(k)]))),
                             shape=(k, nz + k))
    full = sparse.vstack([sparse.hstack([sub, sparse.csr_matrix((m, k))]), link]).tocsc()
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("presolve", "off")  # re-presolving on every objective change dominates
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = nz + k, m + k
    lp.col_cost_ = np.zeros(nz + k)
    lp.col_lower_ = np.zeros(nz + k)
    lp.col_upper_ = np.concatenate([np.full(nz, highspy.kHighsInf), need])
    lp.row_lower_ = np.concatenate([rhs, np.zeros(k)])
    lp.row_upper_ = np.concatenate([rhs, np.full(k, highspy.kHighsInf)])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = full.indptr
    lp.a_matrix_.index_ = full.indices
    lp.a_matrix_.value_ = full.data
    h.passModel(lp)
    columns = np.arange(nz + k, dtype=np.int32)

    def solve(weights: np.ndarray) -> tuple[np.ndarray | None, bool]:
        """Maximise weights · (z, t), warm-started from the previous basis."""
        _check(deadline, "audit LP")
        if deadline is not None:  # HiGHS stops a long solve itself
            h.setOptionValue("time_limit", max(deadline - time.perf_counter(), 1e-3))
        h.changeColsCost(nz + k, columns, -weights)
        h.run()
        status = h.getModelStatus()
        if status == highspy.HighsModelStatus.kTimeLimit:
            raise TimeoutError("audit LP")
        if status == highspy.HighsModelStatus.kUnbounded:
            return None, True
        if status != highspy.HighsModelStatus.kOptimal:
            raise SdwhError("the disclosure audit LP failed; nothing was published.",
                            f"HiGHS status: {h.modelStatusToString(status)}")
        return np.asarray(h.getSolution().col_value), False

    todo = np.arange(k)
    while len(todo):
        w = np.zeros(nz + k)
        w[nz + todo] = 1.0 / need[todo]
        x, unbounded = solve(w)
        if unbounded:
            break
        got = x[targets[todo]]
        best[todo] = np.maximum(best[todo], got)
        left = todo[got < need[todo] - TOL * np.maximum(1.0, need[todo])]
        if len(left) == len(todo):
            break
        todo = left
    if not exact:
        return best
    h.changeColsBounds(k, np.arange(nz, nz + k, dtype=np.int32), np.zeros(k), np.zeros(k))
    for t in todo.tolist():  # exact maximum, one LP each
        w = np.zeros(nz + k)
        w[targets[t]] = 1.0
        x, unbounded = solve(w)
        best[t] = np.inf if unbounded else x[targets[t]]
    return best


@dataclass
class Outcome:
    """Suppression per cell of each indicator, plus the audit record of the problem."""

    suppressed: dict[str, np.ndarray]  # indicator -> per-cell mask
    primary: dict[str, np.ndarray]
    rules: dict[str, list[str]]  # indicator -> failed rules per cell ("" when none)
    record: dict[str, Any]


def protect_cells(blocks: Sequence[Block], geo: GeoParents, params: RuleParams,
                  links: Sequence[tuple[str, str, str, str, Sequence[str]]] = (),
                  time_budget: float | None = None, suppress_all: str | None = None
                  ) -> Outcome:
    """Suppress, widen to whole cells, and audit; raises if the final audit fails.

    ``time_budget`` (seconds, wall clock; None or 0: none) bounds the secondary suppression
    and its proof. A table that overruns it falls back to suppressing every cell: safe by
    construction (nothing is published, so nothing can be subtracted), audited all the same,
    and named in the record (``fallback``). ``suppress_all`` (a reason) asks for that
    outcome directly, e.g. for a table another table's published cells would expose.
    """
    problem, index = build_joint_problem(blocks, geo, params, links)
    group = _cell_groups(index)
    deadline = time.perf_counter() + time_budget if time_budget else None
    fallback = suppress_all
    if fallback is None:
        try:
            mask, hi, method = _suppress_and_prove(problem, group, deadline)
        except TimeoutError as late:
            fallback = (f"secondary suppression did not finish within the time budget of "
                        f"{time_budget:g} s (stopped in the {late}); every cell of the table "
                        "is suppressed")
    if fallback is not None:
        mask = np.ones(len(problem.values), dtype=bool)
        hi = witness_audit(problem, mask)  # no deadline: the fallback must be proven
        method = "suppress_all"
    per_cell: dict[str, np.ndarray] = {}
    for block in blocks:
        rows = (index["indicator"] == block.indicator.id).to_numpy()
        cell_ids = index.loc[rows, "cell"].to_numpy()
        hit = np.zeros(len(block.cells), dtype=bool)
        np.logical_or.at(hit, cell_ids, mask[rows])
        per_cell[block.indicator.id] = hit
    whole = mask
    if (problem.primary & (hi < problem.values + problem.upper - TOL)).any():
        raise SdwhError("the suppression pattern failed its audit: a protected cell could be "
                        "derived from the published ones.",
                        "This is a bug in disclosure control; nothing was published.")
    primary = {b.indicator.id: np.zeros(len(b.cells), dtype=bool) for b in blocks}
    rules: dict[str, list[str]] = {b.indicator.id: [""] * len(b.cells) for b in blocks}
    ind_col, cell_col = index["indicator"].to_numpy(), index["cell"].to_numpy()
    table_col, rule_col = index["table"].to_numpy(), index["rule"].to_numpy()
    for k in np.flatnonzero(problem.primary):
        ind, cell = ind_col[k], int(cell_col[k])
        primary[ind][cell] = True
        found = f"{table_col[k]}:{rule_col[k]}"
        rules[ind][cell] = ";".join(sorted({*filter(None, rules[ind][cell].split(";")), found}))
    audited = np.flatnonzero(problem.primary)
    record = {
        "variables": len(problem.values), "relations": int(problem.A.shape[0]),
        "primary_variables": int(problem.primary.sum()),
        "suppressed_variables": int(whole.sum()),
        "method": method, "audit": "LP witness: intruder's upper bound >= value + "
        "protection level for every primary", "audit_ok": True,
        **({"fallback": fallback} if fallback else {}),
        # one column per field, one entry per audited primary variable
        "intervals": {
            "indicator": ind_col[audited].tolist(), "table": table_col[audited].tolist(),
            "cell": cell_col[audited].tolist(), "value": problem.values[audited].tolist(),
            "required_upper": problem.upper[audited].tolist(),
            "intruder_upper_at_least": [_num(x) for x in hi[audited]]},
    }
    return Outcome(per_cell, primary, rules, record)


def _suppress_and_prove(problem: CellProblem, group: np.ndarray, deadline: float | None
                        ) -> tuple[np.ndarray, np.ndarray, str]:
    """Singleton closing, LP audit, LP repair of what is still exposed: (mask, bounds, method).

    Raises TimeoutError past ``deadline``.
    """
    mask = close_singletons(problem.A, _widen(problem.primary, group), group, problem.cost,
                            deadline)
    hi = witness_audit(problem, mask, deadline=deadline)
    method = "singletons"
    weak = problem.primary & (hi < problem.values + problem.upper - TOL)
    if weak.any():  # LP-based sequential suppression for the primaries still exposed
        method = "singletons+fast"
        rest = CellProblem(values=problem.values, A=problem.A, primary=mask,
                           upper=np.where(weak, problem.upper, 0.0), lower=problem.lower,
                           cost=problem.cost)
        grown, found = protect_fast(rest, deadline=deadline, with_witnesses=True)
        mask = close_singletons(problem.A, _widen(grown, group), group, problem.cost, deadline)
        # the pattern only grew, so every feasible point found so far stays feasible: the
        # bounds proven stand, and the repair's deviations (checked here) prove the weak ones
        hi = np.maximum(hi, _witnessed(problem, mask, found))
        left = problem.primary & (hi < problem.values + problem.upper - TOL)
        if left.any():
            hi = np.maximum(hi, witness_audit(problem, mask, only=left, deadline=deadline))
    return mask, hi, method


def _check(deadline: float | None, step: str) -> None:
    """TimeoutError naming the step when the deadline has passed."""
    if deadline is not None and time.perf_counter() > deadline:
        raise TimeoutError(step)


def _witnessed(problem: CellProblem, suppressed: np.ndarray,
               deviations: sparse.csr_matrix) -> np.ndarray:
    """Bounds proven by deviations that are feasible (checked, not trusted) under the pattern."""
    bound = problem.values.copy()
    if deviations.shape[0]:
        good = verify_witnesses(problem, suppressed, deviations)
        coo = deviations.tocsr()[np.flatnonzero(good)].tocoo()
        np.maximum.at(bound, coo.col, problem.values[coo.col] + coo.data)
    return bound


def _cell_groups(index: pd.DataFrame) -> np.ndarray:
    """One id per (indicator, cell): a cell's variables are suppressed together."""
    keys = list(zip(index["indicator"], index["cell"], strict=True))
    ids = {k: i for i, k in enumerate(dict.fromkeys(keys))}
    return np.array([ids[k] for k in keys])


def _widen(mask: np.ndarray, group: np.ndarray) -> np.ndarray:
    hit = np.zeros(group.max(initial=-1) + 1, dtype=bool)
    np.logical_or.at(hit, group, mask)
    return hit[group]


def _num(x: float) -> float | None:
    """JSON-safe bound: +∞ (unbounded) as None."""
    return None if not np.isfinite(x) else round(float(x), 6)
