"""Secondary cell suppression for linked and hierarchical tables, with an audit that proves it.

The table is a vector of non-negative cells ``a`` with additivity constraints ``A a = 0``
(:mod:`disclosure.problem`). An intruder who sees the published cells solves
``min / max a_p  s.t.  A z = 0, z ≥ 0, z_j = a_j for published j``. A pattern protects
primary cell p when that interval reaches ``a_p + upper_p`` and ``a_p − lower_p``.

* ``optimal``: one MILP (Fischetti–Salazar compact model: for every primary and direction an
  attacker deviation ``y`` with ``A y = 0`` that may only use suppressed cells) minimising the
  information loss, solved by HiGHS under a time limit.
* ``hypercube``: one cheapest additive hypercube deviation per primary and direction
  (:mod:`disclosure.hypercube`), vectorised; directions without a feasible hypercube get
  the LP repair of ``fast``. Milliseconds per primary: the method for large tables.
* ``fast``: the LP-based sequential heuristic: per primary and direction, the cheapest
  deviation (unsuppressed cells cost their weight, suppressed ones nothing) is found by one LP
  and its support is suppressed. Works on any linear system (linked tables without a grid).
* ``auto``: the optimal model when small, else ``hypercube`` (or ``fast`` for problems without
  a cross-classification), all under the time budget; a pattern that is late or fails the
  audit is replaced by suppressing every cell, which is audited too.

Every method returns its deviations as *witnesses*; the audit (:mod:`disclosure.audit`)
re-checks them and solves LPs only for what they do not prove. The suppressed set of the
heuristics only grows, so a witness found early stays valid.
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

from disclosure.audit import AuditResult, audit
from disclosure.hypercube import protect_hypercube
from disclosure.problem import (
    CellProblem,
    Cost,
    additivity_matrix,
    build_problem,
    cost_vector,
)
from disclosure.rules import RuleParams, TableSpec, add_zero_cells, apply_rules, cell_stats

__all__ = ["AuditResult", "CellProblem", "Cost", "Method", "Protection", "additivity_matrix",
           "audit", "build_problem", "cost_vector", "protect", "protect_fast",
           "protect_hypercube", "protect_optimal", "protect_table"]

Method = Literal["optimal", "fast", "hypercube", "auto"]
METHODS: tuple[str, ...] = ("optimal", "fast", "hypercube", "auto")
TOL = 1e-6


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
            "audit_exact": self.audit.exact, "audit_seconds": round(self.audit.seconds, 3),
            "audit_proofs": self.audit.proofs,
            "suppressed_value_share": float(problem.values[self.suppressed].sum() / tot)
            if tot else 0.0,
            "notes": self.notes,
        }


def _witness_matrix(rows: Sequence[np.ndarray], n: int) -> sparse.csr_matrix:
    """Stack dense deviation vectors as sparse witness rows."""
    if not rows:
        return sparse.csr_matrix((0, n))
    return sparse.csr_matrix(np.vstack(rows))


# ---------------------------------------------------------------- fast method


class DeviationLP:
    """The cheapest deviation LP of the fast method, built once and re-costed per primary.

    Variables ``y+``, ``y−`` (n each) with ``A y+ − A y− = 0``, ``0 ≤ y− ≤ a``; the target
    cell's ``y±`` is fixed to the need; unsuppressed cells cost ``cost/need``, suppressed ones
    almost nothing.
    """

    def __init__(self, problem: CellProblem):
        self.problem = problem
        n = len(problem.values)
        A = problem.A.tocsc()
        m = A.shape[0]
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
        self.h, self.n, self.idx = h, n, np.arange(2 * n, dtype=np.int32)

    def cheapest(self, supp: np.ndarray, p: int, direction: int, need: float
                 ) -> np.ndarray | None:
        """Deviation ``y`` (y_p = direction · need) of least cost, or None if none exists."""
        n, h, problem = self.n, self.h, self.problem
        unit = np.where(supp, 1e-6, problem.cost / need)
        h.changeColsCost(2 * n, self.idx, np.concatenate([unit, unit]))
        lower = np.zeros(2 * n)
        upper = np.concatenate([np.full(n, highspy.kHighsInf), problem.values])
        col = p if direction > 0 else n + p
        lower[col] = upper[col] = need
        upper[n + p if direction > 0 else p] = 0.0
        h.changeColsBounds(2 * n, self.idx, lower, upper)
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        sol = np.asarray(h.getSolution().col_value)
        y = sol[:n] - sol[n:]
        y[np.abs(y) <= TOL * max(1.0, need)] = 0.0
        return y


def repair(problem: CellProblem, supp: np.ndarray,
           directions: Sequence[tuple[int, int, float]], deadline: float | None = None,
           lp: DeviationLP | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
    """Protect the given (cell, direction, need) by LP deviations; grows ``supp`` in place."""
    lp = lp or DeviationLP(problem)
    a = problem.values
    zmax, zmin = a.copy(), a.copy()
    found: list[np.ndarray] = []
    for p, direction, need in directions:
        if (zmax[p] >= a[p] + need) if direction > 0 else (zmin[p] <= a[p] - need):
            continue
        if deadline is not None and time.perf_counter() > deadline:
            raise TimeoutError("fast suppression exceeded its time budget")
        y = lp.cheapest(supp, p, direction, need)
        if y is None:
            continue  # no deviation exists at all: the audit will report it
        supp |= y != 0
        found.append(y)
        np.maximum(zmax, a + y, out=zmax)
        np.minimum(zmin, a + y, out=zmin)
    return supp, found


def _directions(problem: CellProblem) -> list[tuple[int, int, float]]:
    prim = np.flatnonzero(problem.primary)
    order = prim[np.argsort(-problem.values[prim], kind="stable")]
    return [(int(p), d, float(need)) for p in order
            for d, need in ((1, problem.upper[p]), (-1, problem.lower[p])) if need > 0]


def protect_fast(problem: CellProblem, deadline: float | None = None,
                 with_witnesses: bool = False
                 ) -> np.ndarray | tuple[np.ndarray, sparse.csr_matrix]:
    """LP-based sequential heuristic; a suppression mask that protects every primary.

    A direction already proven by an earlier deviation (a feasible point reaching the bound)
    is skipped.
    """
    supp, found = repair(problem, problem.primary.copy(), _directions(problem), deadline)
    if with_witnesses:
        return supp, _witness_matrix(found, len(problem.values))
    return supp


def hypercube_pattern(problem: CellProblem, deadline: float | None = None
                      ) -> tuple[np.ndarray, sparse.csr_matrix, int]:
    """Hypercube pattern plus LP repair of the directions it could not serve."""
    supp, W, left = protect_hypercube(problem, deadline=deadline)
    if left:
        supp, found = repair(problem, supp, left, deadline)
        W = sparse.vstack([W, _witness_matrix(found, len(problem.values))]).tocsr()
    return supp, W, len(left)


# ---------------------------------------------------------------- optimal method


def protect_optimal(problem: CellProblem, time_limit: float
                    ) -> tuple[np.ndarray | None, bool, sparse.csr_matrix]:
    """Compact MILP; returns (pattern or None, proven optimal, the attacker deviations)."""
    n = len(problem.values)
    A = problem.A.tocsr()
    m = A.shape[0]
    jobs = [(p, d, need) for p in np.flatnonzero(problem.primary)
            for d, need in ((1, problem.upper[p]), (-1, problem.lower[p])) if need > 0]
    if not jobs:
        return problem.primary.copy(), True, _witness_matrix([], n)
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
        return None, False, _witness_matrix([], n)
    pattern = res.x[:n] > 0.5
    ys = [np.where(pattern, res.x[n + j * n:n + (j + 1) * n], 0.0) for j in range(len(jobs))]
    return pattern, res.status == 0, _witness_matrix(ys, n)


def _shift(A: sparse.csr_matrix, off: int, nv: int) -> sparse.csr_matrix:
    coo = A.tocoo()
    return sparse.csr_matrix((coo.data, (coo.row, coo.col + off)), shape=(A.shape[0], nv))


def _milp_size(problem: CellProblem) -> int:
    jobs = int((problem.upper[problem.primary] > 0).sum() + (problem.lower > 0).sum())
    return len(problem.values) * max(jobs, 1)


def _suppress_all(problem: CellProblem, deadline: float | None
                  ) -> tuple[np.ndarray, sparse.csr_matrix]:
    """Publish nothing: safe, and still audited (witnesses from hypercubes when possible)."""
    everything = np.ones(len(problem.values), dtype=bool)
    if problem.nodes is None:
        return everything, _witness_matrix([], len(problem.values))
    try:
        _, W, _ = protect_hypercube(problem, deadline=deadline, start=everything)
    except TimeoutError:
        W = _witness_matrix([], len(problem.values))
    return everything, W


def protect(problem: CellProblem, method: Method = "auto", time_budget: float = 30.0,
            max_milp_vars: int = 20_000, exact_audit: bool = False) -> Protection:
    """Primary + secondary suppression under a time budget, always returning an audited pattern.

    ``auto`` tries the MILP when its size is at most ``max_milp_vars`` continuous variables
    (within 60 % of the budget), else the hypercube method (the fast LP method for problems
    without a cross-classification); ``optimal`` insists on the MILP (falling back to the
    hypercube or fast method only if it finds nothing); ``fast`` and ``hypercube`` run alone.
    Whatever ran, a pattern that exceeds the budget or fails its audit is replaced by
    suppressing every cell.
    The audit proves protection from the methods' witnesses (``exact_audit`` computes exact
    intervals instead).
    """
    t0 = time.perf_counter()
    deadline = t0 + time_budget
    notes: list[str] = []
    empty = _witness_matrix([], len(problem.values))
    pattern, W, proven, used = None, empty, False, method
    if method == "auto":
        small = _milp_size(problem) <= max_milp_vars
        used = "optimal" if small else ("hypercube" if problem.nodes is not None else "fast")
        if not small:
            notes.append(f"MILP too large for the budget; used the {used} method.")
    try:
        if used == "optimal":
            limit = time_budget if method == "optimal" else 0.6 * time_budget
            pattern, proven, W = protect_optimal(problem, limit)
            if pattern is None:
                used = "hypercube" if problem.nodes is not None else "fast"
                notes.append(f"MILP found no pattern within {limit:.1f} s; used the {used} "
                             "method.")
        if used == "hypercube":
            pattern, W, n_left = hypercube_pattern(problem, deadline)
            if n_left:
                notes.append(f"{n_left} direction(s) had no feasible hypercube; repaired by LP.")
        if used == "fast":
            pattern, W = protect_fast(problem, deadline, with_witnesses=True)
    except TimeoutError:
        notes.append(f"the {used} method exceeded the {time_budget:g} s budget")
        pattern = None
    check = None
    # the audit may use what is left of the budget, but at least a quarter of it
    audit_deadline = max(deadline, time.perf_counter() + 0.25 * time_budget)
    if pattern is not None:
        check = audit(problem, pattern, witnesses=W, exact=exact_audit, deadline=audit_deadline)
        if not check.ok and used == "optimal":
            notes.append("MILP pattern failed the audit (numerical); used the fast method.")
            used, proven = "fast", False
            try:
                pattern, W = protect_fast(problem, deadline, with_witnesses=True)
                check = audit(problem, pattern, witnesses=W, exact=exact_audit,
                              deadline=audit_deadline)
            except TimeoutError:
                notes.append(f"the fast method exceeded the {time_budget:g} s budget")
                check = None
        elif not check.ok:
            notes.append(f"the {used} pattern failed its audit (or was not proven in time)")
    if check is None or not check.ok:
        # suppressing every cell publishes nothing: safe, and the audit still proves it
        used, proven = "suppress_all", False
        pattern, W = _suppress_all(problem, None)
        notes.append("fell back to suppressing every cell")
        check = audit(problem, pattern, witnesses=W, exact=exact_audit)
    return Protection(suppressed=pattern, method_used=used, optimal=proven,
                      seconds=time.perf_counter() - t0, audit=check, notes=notes)


def protect_table(data: Any, spec: TableSpec, value: str | None = None, unit: str | None = None,
                  weight: str | None = None, params: RuleParams | None = None,
                  method: Method = "auto", cost: Cost = "value", time_budget: float = 30.0,
                  structural_zeros: Sequence[dict[str, str]] = (), exact_audit: bool = False
                  ) -> tuple[pd.DataFrame, Protection, CellProblem]:
    """Check rules, suppress, audit: returns the cell table with a ``suppressed`` column.

    Cells are counts of distinct units when ``value`` is None, otherwise (weighted) sums.
    ``lo``/``hi`` are the intruder's bounds the audit proved (exact with ``exact_audit``).
    """
    params = params or RuleParams()
    stats = cell_stats(data, spec, value=value, unit=unit, weight=weight,
                       n_top=max(2, params.nk_n))
    cells = apply_rules(add_zero_cells(stats, spec, structural_zeros), params,
                        magnitude=value is not None)
    problem = build_problem(cells, list(spec.dims), params, value is not None, cost)
    result = protect(problem, method, time_budget, exact_audit=exact_audit)
    cells = cells.assign(primary=problem.primary, suppressed=result.suppressed,
                         lo=result.audit.lo * problem.scale, hi=result.audit.hi * problem.scale)
    return cells, result, problem
