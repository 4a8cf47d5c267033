"""Secondary cell suppression for linked and hierarchical tables, with an LP audit.

The table is a vector of non-negative cells ``a`` with additivity constraints ``A a = 0``
(every total minus its children). An intruder who sees the published cells solves
``min / max a_p  s.t.  A z = 0, z ≥ 0, z_j = a_j for published j``. A pattern protects
primary cell p when that interval reaches ``a_p + upper_p`` and ``a_p − lower_p``.

* ``optimal``: one MILP (Fischetti–Salazar compact model: for every primary and direction an
  attacker deviation ``y`` with ``A y = 0`` that may only use suppressed cells) minimising the
  information loss, solved by HiGHS under a time limit.
* ``fast``: the LP-based sequential heuristic: per primary and direction, the cheapest
  deviation (unsuppressed cells cost their weight, suppressed ones nothing) is found by one LP
  and its support is suppressed. The suppressed set only grows and the intruder's polytope
  with it, so every primary stays protected: safe by construction, verified by the audit.
* ``auto``: the optimal model under the time budget; if it does not finish or its pattern
  fails the audit, the fast pattern (audited) is returned instead.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Literal

import highspy
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from disclosure.rules import (
    RuleParams,
    TableSpec,
    add_zero_cells,
    apply_rules,
    cell_stats,
    required_protection,
)
from sdwh.errors import SdwhError

Method = Literal["optimal", "fast", "auto"]
Cost = Literal["value", "count", "log"]
TOL = 1e-6


class CellProblem(BaseModel):
    """A table ready for protection: values, additivity matrix, primaries, protection levels."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    values: np.ndarray
    A: sparse.csr_matrix
    primary: np.ndarray
    upper: np.ndarray
    lower: np.ndarray
    cost: np.ndarray
    scale: float = 1.0


class AuditResult(BaseModel):
    """Feasibility interval of every audited cell and whether each primary is protected."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    lo: np.ndarray
    hi: np.ndarray
    audited: np.ndarray
    protected: np.ndarray
    seconds: float

    @property
    def ok(self) -> bool:
        """True when every primary cell's interval meets its protection levels."""
        return bool(self.protected.all())


class Protection(BaseModel):
    """Outcome: the suppression pattern, how it was found and its audit."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    suppressed: np.ndarray
    method_used: str
    optimal: bool
    seconds: float
    audit: AuditResult
    notes: list[str] = []

    def summary(self, problem: CellProblem) -> dict[str, Any]:
        """JSON-ready counts a checker reads: primaries, secondaries, suppressed value share."""
        sec = self.suppressed & ~problem.primary
        tot = problem.values.sum()
        return {
            "cells": len(problem.values), "primary": int(problem.primary.sum()),
            "secondary": int(sec.sum()), "method": self.method_used, "optimal": self.optimal,
            "seconds": round(self.seconds, 3), "audit_ok": self.audit.ok,
            "suppressed_value_share": float(problem.values[self.suppressed].sum() / tot)
            if tot else 0.0,
            "notes": self.notes,
        }


# ---------------------------------------------------------------- building the problem


def additivity_matrix(cells: pd.DataFrame, dims: Sequence[str]) -> sparse.csr_matrix:
    """One row per (total, dimension): total − Σ children = 0, from the parent columns."""
    keys = [c for d in dims for c in (d, f"{d}__level")]
    index = {tuple(r): i for i, r in enumerate(cells[keys].itertuples(index=False, name=None))}
    rows, cols, vals = [], [], []
    groups: dict[tuple, int] = {}
    for d_pos, d in enumerate(dims):
        par = cells[f"{d}__parent"].to_numpy()
        lev = cells[f"{d}__level"].to_numpy()
        for i, rec in enumerate(cells[keys].itertuples(index=False, name=None)):
            if par[i] is None or (isinstance(par[i], float) and np.isnan(par[i])):
                continue
            pkey = list(rec)
            pkey[2 * d_pos], pkey[2 * d_pos + 1] = par[i], lev[i] + 1
            parent = index.get(tuple(pkey))
            if parent is None:
                continue
            row = groups.setdefault((d_pos, parent), len(groups))
            rows.append(row)
            cols.append(i)
            vals.append(1.0)
    for (_, parent), row in groups.items():
        rows.append(row)
        cols.append(parent)
        vals.append(-1.0)
    return sparse.csr_matrix((vals, (rows, cols)), shape=(len(groups), len(cells)))


def cost_vector(values: np.ndarray, cost: Cost) -> np.ndarray:
    """Information loss per suppressed cell: its value (τ-Argus default), 1, or log value."""
    if cost == "value":
        return np.abs(values) + 1.0
    if cost == "count":
        return np.ones(len(values))
    return np.log1p(np.abs(values)) + 1.0


def build_problem(cells: pd.DataFrame, dims: Sequence[str], params: RuleParams,
                  magnitude: bool, cost: Cost = "value") -> CellProblem:
    """Turn checked cells (from :func:`disclosure.rules.apply_rules`) into a CellProblem."""
    values = cells["total"].to_numpy(dtype=float) if magnitude else cells["n_units"].to_numpy(
        dtype=float)
    if (values < 0).any():
        raise SdwhError("The table has negative cell values; suppression assumes cells ≥ 0.",
                        "Protect a non-negative variable, or shift it by a known constant.")
    primary = (cells["status"] != "pass").to_numpy()
    upper = np.where(primary, required_protection(cells, params, magnitude), 0.0)
    lower = np.where(primary & magnitude, np.minimum(upper, values), 0.0)
    # LP tolerances are absolute: work in units where the largest cell is 1e3
    scale = max(values.max(initial=0.0) / 1e3, 1.0) if magnitude else 1.0
    return CellProblem(values=values / scale, A=additivity_matrix(cells, dims), primary=primary,
                       upper=upper / scale, lower=lower / scale,
                       cost=cost_vector(values, cost), scale=scale)


# ---------------------------------------------------------------- audit


def audit(problem: CellProblem, suppressed: np.ndarray, cells: str = "primary") -> AuditResult:
    """Exact feasibility intervals by LP for suppressed cells (primaries or all).

    The intruder's LP: variables are the suppressed cells, published cells are constants,
    every additivity row holds, cells are ≥ 0 with no upper bound. Protected means
    ``hi ≥ a + upper − tol`` and ``lo ≤ a − lower + tol``.
    """
    t0 = time.perf_counter()
    n = len(problem.values)
    lo = problem.values.copy()
    hi = problem.values.copy()
    which = suppressed & (problem.primary if cells == "primary" else np.ones(n, bool))
    sup = np.flatnonzero(suppressed)
    if len(sup) and which.any():
        h = _audit_model(problem, suppressed, sup)
        pos = {c: k for k, c in enumerate(sup)}
        for c in np.flatnonzero(which):
            lo[c], hi[c] = _interval(h, pos[c], len(sup))
    tol = TOL * np.maximum(1.0, np.abs(problem.values))
    protected = ~problem.primary | (suppressed & (hi >= problem.values + problem.upper - tol)
                                    & (lo <= problem.values - problem.lower + tol))
    return AuditResult(lo=lo, hi=hi, audited=which, protected=protected,
                       seconds=time.perf_counter() - t0)


def _audit_model(problem: CellProblem, suppressed: np.ndarray, sup: np.ndarray) -> highspy.Highs:
    A = problem.A.tocsc()
    rhs = -(A[:, ~suppressed] @ problem.values[~suppressed])
    sub = A[:, sup].tocsr()
    keep = np.diff(sub.indptr) > 0
    sub, rhs = sub[keep], rhs[keep]
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(sup), sub.shape[0]
    lp.col_cost_ = np.zeros(len(sup))
    lp.col_lower_ = np.zeros(len(sup))
    lp.col_upper_ = np.full(len(sup), highspy.kHighsInf)
    slack = 1e-9 * (1.0 + np.abs(rhs))
    lp.row_lower_ = rhs - slack
    lp.row_upper_ = rhs + slack
    csc = sub.tocsc()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = csc.indptr
    lp.a_matrix_.index_ = csc.indices
    lp.a_matrix_.value_ = csc.data
    h.passModel(lp)
    return h


def _interval(h: highspy.Highs, k: int, n: int) -> tuple[float, float]:
    out = []
    for sense in (1.0, -1.0):
        cost = np.zeros(n)
        cost[k] = sense
        h.changeColsCost(n, np.arange(n, dtype=np.int32), cost)
        h.run()
        status = h.getModelStatus()
        if status == highspy.HighsModelStatus.kUnbounded:
            out.append(np.inf * -sense)
        elif status == highspy.HighsModelStatus.kOptimal:
            out.append(sense * h.getInfo().objective_function_value)
        else:  # an LP failure must never read as protection
            out.append(np.nan)
    return out[0], out[1]


# ---------------------------------------------------------------- fast method


def protect_fast(problem: CellProblem, deadline: float | None = None) -> np.ndarray:
    """LP-based sequential heuristic; returns a suppression mask that protects every primary."""
    n = len(problem.values)
    supp = problem.primary.copy()
    A = problem.A.tocsc()
    m = A.shape[0]
    # variables: y+ (n), y- (n); rows: A y+ − A y− = 0
    big = sparse.hstack([A, -A]).tocsc()
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = 2 * n, m
    lp.col_cost_ = np.zeros(2 * n)
    lp.col_lower_ = np.zeros(2 * n)
    lp.col_upper_ = np.concatenate([np.full(n, highspy.kHighsInf), problem.values])
    lp.row_lower_ = np.zeros(m)
    lp.row_upper_ = np.zeros(m)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = big.indptr
    lp.a_matrix_.index_ = big.indices
    lp.a_matrix_.value_ = big.data
    h.passModel(lp)
    idx = np.arange(2 * n, dtype=np.int32)
    order = np.argsort(-problem.values[problem.primary], kind="stable")
    for p in np.flatnonzero(problem.primary)[order]:
        for direction, need in ((1, problem.upper[p]), (-1, problem.lower[p])):
            if need <= 0:
                continue
            if deadline is not None and time.perf_counter() > deadline:
                raise TimeoutError("fast suppression exceeded its time budget")
            supp |= _cheapest_support(h, problem, supp, p, direction, need, idx)
    return supp


def _cheapest_support(h: highspy.Highs, problem: CellProblem, supp: np.ndarray, p: int,
                      direction: int, need: float, idx: np.ndarray) -> np.ndarray:
    n = len(problem.values)
    unit = np.where(supp, 1e-6, problem.cost / need)
    h.changeColsCost(2 * n, idx, np.concatenate([unit, unit]))
    lower = np.zeros(2 * n)
    upper = np.concatenate([np.full(n, highspy.kHighsInf), problem.values])
    col = p if direction > 0 else n + p
    lower[col] = upper[col] = need
    other = n + p if direction > 0 else p
    upper[other] = 0.0
    h.changeColsBounds(2 * n, idx, lower, upper)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return np.zeros(n, bool)  # no deviation exists at all: audit will report it
    y = np.asarray(h.getSolution().col_value)
    flow = y[:n] + y[n:]
    return flow > TOL * np.maximum(1.0, need)


# ---------------------------------------------------------------- optimal method


def protect_optimal(problem: CellProblem, time_limit: float) -> tuple[np.ndarray | None, bool]:
    """Compact MILP; returns (pattern or None, proven optimal)."""
    n = len(problem.values)
    A = problem.A.tocsr()
    m = A.shape[0]
    jobs = [(p, d, need) for p in np.flatnonzero(problem.primary)
            for d, need in ((1, problem.upper[p]), (-1, problem.lower[p])) if need > 0]
    if not jobs:
        return problem.primary.copy(), True
    big_m = problem.values.sum() + problem.upper.sum() + 1.0
    nv = n + n * len(jobs)  # x (binary) then one y block per job
    blocks, lo_c, hi_c = [], [], []
    for j, (p, d, need) in enumerate(jobs):
        off = n + j * n
        sel = sparse.csr_matrix((np.ones(n), (np.arange(n), off + np.arange(n))), shape=(n, nv))
        blocks.append(_shift(A, off, nv))
        lo_c.append(np.zeros(m))
        hi_c.append(np.zeros(m))
        xs = sparse.csr_matrix((np.ones(n), (np.arange(n), np.arange(n))), shape=(n, nv))
        # y_i − M x_i ≤ 0 and y_i + a_i x_i ≥ 0
        blocks.append(sel - big_m * xs)
        lo_c.append(np.full(n, -np.inf))
        hi_c.append(np.zeros(n))
        blocks.append(sel + sparse.diags(problem.values) @ xs)
        lo_c.append(np.zeros(n))
        hi_c.append(np.full(n, np.inf))
        fix = sparse.csr_matrix(([1.0], ([0], [off + p])), shape=(1, nv))
        blocks.append(fix)
        lo_c.append(np.array([d * need]))
        hi_c.append(np.array([d * need]))
    cons = LinearConstraint(sparse.vstack(blocks).tocsr(), np.concatenate(lo_c),
                            np.concatenate(hi_c))
    lb = np.concatenate([problem.primary.astype(float), np.full(nv - n, -np.inf)])
    ub = np.concatenate([np.ones(n), np.full(nv - n, np.inf)])
    c = np.concatenate([problem.cost, np.zeros(nv - n)])
    integrality = np.concatenate([np.ones(n), np.zeros(nv - n)])
    res = milp(c, constraints=cons, integrality=integrality, bounds=Bounds(lb, ub),
               options={"time_limit": time_limit, "disp": False})
    if res.x is None:
        return None, False
    return res.x[:n] > 0.5, res.status == 0


def _shift(A: sparse.csr_matrix, off: int, nv: int) -> sparse.csr_matrix:
    coo = A.tocoo()
    return sparse.csr_matrix((coo.data, (coo.row, coo.col + off)), shape=(A.shape[0], nv))


def _milp_size(problem: CellProblem) -> int:
    jobs = int((problem.upper[problem.primary] > 0).sum() + (problem.lower > 0).sum())
    return len(problem.values) * max(jobs, 1)


def protect(problem: CellProblem, method: Method = "auto", time_budget: float = 30.0,
            max_milp_vars: int = 20_000) -> Protection:
    """Primary + secondary suppression under a time budget, always returning an audited pattern.

    ``auto`` tries the MILP when its size is at most ``max_milp_vars`` continuous variables and
    within ~60 % of the budget, then falls back to the fast method; ``optimal`` insists on the
    MILP (falling back only if it finds nothing); ``fast`` runs the heuristic alone.
    """
    t0 = time.perf_counter()
    notes: list[str] = []
    pattern, proven, used = None, False, "fast"
    if method == "optimal" or (method == "auto" and _milp_size(problem) <= max_milp_vars):
        limit = time_budget if method == "optimal" else 0.6 * time_budget
        pattern, proven = protect_optimal(problem, limit)
        used = "optimal"
        if pattern is None:
            notes.append(f"MILP found no pattern within {limit:.1f} s; used the fast method.")
    elif method == "auto":
        notes.append("MILP too large for the budget; used the fast method.")
    if pattern is not None:
        check = audit(problem, pattern)
        if not check.ok:
            notes.append("MILP pattern failed the audit (numerical); used the fast method.")
            pattern = None
    if pattern is None:
        used, proven = "fast", False
        try:
            pattern = protect_fast(problem, deadline=t0 + time_budget)
        except TimeoutError:
            # suppressing every cell publishes nothing: safe, and the audit still proves it
            used, pattern = "suppress_all", np.ones(len(problem.values), dtype=bool)
            notes.append(f"fast method exceeded the {time_budget:g} s budget; "
                         "fell back to suppressing every cell")
        check = audit(problem, pattern)
    return Protection(suppressed=pattern, method_used=used, optimal=proven,
                      seconds=time.perf_counter() - t0, audit=check, notes=notes)


def protect_table(data: Any, spec: TableSpec, value: str | None = None, unit: str | None = None,
                  weight: str | None = None, params: RuleParams | None = None,
                  method: Method = "auto", cost: Cost = "value", time_budget: float = 30.0,
                  structural_zeros: Sequence[dict[str, str]] = ()
                  ) -> tuple[pd.DataFrame, Protection, CellProblem]:
    """Check rules, suppress, audit: returns the cell table with a ``suppressed`` column.

    Cells are counts of distinct units when ``value`` is None, otherwise (weighted) sums.
    """
    params = params or RuleParams()
    stats = cell_stats(data, spec, value=value, unit=unit, weight=weight, n_top=max(2,
                                                                                     params.nk_n))
    cells = apply_rules(add_zero_cells(stats, spec, structural_zeros), params,
                        magnitude=value is not None)
    problem = build_problem(cells, list(spec.dims), params, value is not None, cost)
    result = protect(problem, method, time_budget)
    cells = cells.assign(primary=problem.primary, suppressed=result.suppressed,
                         lo=result.audit.lo * problem.scale, hi=result.audit.hi * problem.scale)
    return cells, result, problem
