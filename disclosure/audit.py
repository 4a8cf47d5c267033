"""Feasibility-interval audit: proves that every suppressed primary keeps its protection.

The intruder's LP: variables are the suppressed cells, published cells are constants, every
additivity row holds, cells are ≥ 0 with no upper bound. Primary p is protected when the
interval ``[min z_p, max z_p]`` reaches ``a_p + upper_p`` and ``a_p − lower_p``.

Two modes:

* ``exact``: two LPs per audited cell on one HiGHS model (only the objective changes, so each
  solve warm-starts from the last basis); reports the exact intervals.
* proof (``exact=False``): a direction is proven by any *feasible point* of the intruder's
  polytope that goes far enough. Feasible points come from witnesses (deviations ``y`` with
  ``A y = 0``, support inside the pattern and ``a + y ≥ 0``, checked here, not trusted) and
  from every LP solution already computed — one solution certifies every cell it moves. Only
  the directions still unproven get an LP, with the target capped at the required bound, which
  is bounded and answers "protected or not" exactly. The reported ``lo``/``hi`` are then the
  bounds proven, so the intruder's true interval contains ``[lo, hi]``.
"""

from __future__ import annotations

import time

import highspy
import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy import sparse

from disclosure.hypercube import protect_hypercube
from disclosure.problem import CellProblem

TOL = 1e-6
WITNESS_TOL = 1e-7


class AuditResult(BaseModel):
    """Interval (exact or proven) of every audited cell and whether each primary is protected."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    lo: np.ndarray
    hi: np.ndarray
    audited: np.ndarray
    protected: np.ndarray
    seconds: float
    exact: bool = True
    proofs: dict[str, int] = {}

    @property
    def ok(self) -> bool:
        """True when every primary cell's interval meets its protection levels."""
        return bool(self.protected.all())


def _tolerance(values: np.ndarray) -> np.ndarray:
    return TOL * np.maximum(1.0, np.abs(values))


def _protected(problem: CellProblem, suppressed: np.ndarray, lo: np.ndarray,
               hi: np.ndarray) -> np.ndarray:
    a, tol = problem.values, _tolerance(problem.values)
    return ~problem.primary | (suppressed & (hi >= a + problem.upper - tol)
                               & (lo <= a - problem.lower + tol))


def intruder_model(problem: CellProblem, suppressed: np.ndarray) -> highspy.Highs:
    """HiGHS model of the intruder's polytope over the suppressed cells (in their order)."""
    sup = np.flatnonzero(suppressed)
    A = problem.A.tocsc()
    rhs = -(A[:, ~suppressed] @ problem.values[~suppressed])
    sub = A[:, sup].tocsr()
    keep = np.diff(sub.indptr) > 0
    sub, rhs = sub[keep], rhs[keep]
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("presolve", "off")  # re-presolving on every objective change dominates
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


def _set_objective(h: highspy.Highs, n: int, k: int, sense: float, last: list[int]) -> None:
    """Objective ``sense · z_k``; only the previous target's cost is reset (sparse update)."""
    idx = np.array(sorted({*last, k}), dtype=np.int32)
    cost = np.where(idx == k, sense, 0.0)
    h.changeColsCost(len(idx), idx, cost)
    last[:] = [k]


def verify_witnesses(problem: CellProblem, suppressed: np.ndarray,
                     witnesses: sparse.csr_matrix) -> np.ndarray:
    """Which witness rows are feasible deviations: support suppressed, ``A y = 0``, ``a+y ≥ 0``."""
    W = witnesses.tocsr()
    W.sum_duplicates()
    coo = W.tocoo()
    ok = np.ones(W.shape[0], dtype=bool)
    a = problem.values
    outside = ~suppressed[coo.col] & (coo.data != 0)
    ok[coo.row[outside]] = False
    negative = a[coo.col] + coo.data < -1e-9 * (1.0 + np.abs(a[coo.col]))
    ok[coo.row[negative]] = False
    size = np.zeros(W.shape[0])
    np.maximum.at(size, coo.row, np.abs(coo.data))
    residual = abs(W @ problem.A.T.tocsc()).max(axis=1).toarray().ravel()
    ok &= residual <= WITNESS_TOL * (1.0 + size)
    return ok


def audit(problem: CellProblem, suppressed: np.ndarray, cells: str = "primary",
          witnesses: sparse.csr_matrix | None = None, exact: bool = True,
          deadline: float | None = None) -> AuditResult:
    """Audit a pattern: exact intervals, or a proof from witnesses and capped LPs.

    ``cells="all"`` audits every suppressed cell (exact intervals). In proof mode an LP that
    does not finish before ``deadline`` leaves its direction unproven, i.e. not protected.
    """
    if exact or cells == "all":
        return _exact(problem, suppressed, cells)
    return _proof(problem, suppressed, witnesses, deadline)


def _exact(problem: CellProblem, suppressed: np.ndarray, cells: str) -> AuditResult:
    t0 = time.perf_counter()
    n = len(problem.values)
    lo, hi = problem.values.copy(), problem.values.copy()
    which = suppressed & (problem.primary if cells == "primary" else np.ones(n, bool))
    sup = np.flatnonzero(suppressed)
    solves = 0
    if len(sup) and which.any():
        h = intruder_model(problem, suppressed)
        pos = np.full(n, -1)
        pos[sup] = np.arange(len(sup))
        last: list[int] = []
        for c in np.flatnonzero(which):
            for sense in (1.0, -1.0):
                _set_objective(h, len(sup), int(pos[c]), sense, last)
                h.run()
                solves += 1
                status = h.getModelStatus()
                if status == highspy.HighsModelStatus.kUnbounded:
                    val = np.inf * -sense
                elif status == highspy.HighsModelStatus.kOptimal:
                    val = sense * h.getInfo().objective_function_value
                else:  # an LP failure must never read as protection
                    val = np.nan
                if sense > 0:
                    lo[c] = val
                else:
                    hi[c] = val
    return AuditResult(lo=lo, hi=hi, audited=which,
                       protected=_protected(problem, suppressed, lo, hi),
                       seconds=time.perf_counter() - t0, exact=True, proofs={"lp_solves": solves})


def _proof(problem: CellProblem, suppressed: np.ndarray, witnesses: sparse.csr_matrix | None,
           deadline: float | None) -> AuditResult:
    t0 = time.perf_counter()
    a, n = problem.values, len(problem.values)
    zmax, zmin = a.copy(), a.copy()
    n_wit = 0
    if witnesses is not None and witnesses.nnz:
        good = verify_witnesses(problem, suppressed, witnesses)
        n_wit = int(good.sum())
        coo = witnesses.tocsr()[np.flatnonzero(good)].tocoo()
        np.maximum.at(zmax, coo.col, a[coo.col] + coo.data)
        np.minimum.at(zmin, coo.col, a[coo.col] + coo.data)
    tol = _tolerance(a)
    goal_hi = a + problem.upper - tol
    goal_lo = a - problem.lower + tol
    targets = problem.primary & suppressed
    todo = [(int(c), s) for c in np.flatnonzero(targets)
            for s, need in ((-1.0, problem.upper[c]), (1.0, problem.lower[c])) if need > 0]

    def unproven() -> int:
        return sum(1 for c, s in todo
                   if not (zmax[c] >= goal_hi[c] if s < 0 else zmin[c] <= goal_lo[c]))

    if unproven() and problem.nodes is not None:
        # cheap witnesses for a pattern from anywhere: additive cubes inside the pattern
        _, found, _ = protect_hypercube(problem, start=suppressed, within=True)
        if found.nnz:
            good = verify_witnesses(problem, suppressed, found)
            n_wit += int(good.sum())
            coo = found.tocsr()[np.flatnonzero(good)].tocoo()
            np.maximum.at(zmax, coo.col, a[coo.col] + coo.data)
            np.minimum.at(zmin, coo.col, a[coo.col] + coo.data)
    proven_by_witness = len(todo) - unproven()
    solves = 0
    sup = np.flatnonzero(suppressed)
    h, last, pos = None, [], np.full(n, -1)
    pos[sup] = np.arange(len(sup))
    for c, sense in todo:
        if (zmax[c] >= goal_hi[c]) if sense < 0 else (zmin[c] <= goal_lo[c]):
            continue
        if deadline is not None and time.perf_counter() > deadline:
            break
        if h is None:
            h = intruder_model(problem, suppressed)
        k = int(pos[c])
        # cap the target at the bound it must reach: bounded, and exact below the cap
        cap = a[c] + problem.upper[c] if sense < 0 else max(a[c] - problem.lower[c], 0.0)
        if sense < 0:
            h.changeColBounds(k, 0.0, cap)
        else:
            h.changeColBounds(k, cap, highspy.kHighsInf)
        _set_objective(h, len(sup), k, sense, last)
        h.run()
        solves += 1
        if h.getModelStatus() == highspy.HighsModelStatus.kOptimal:
            z = np.asarray(h.getSolution().col_value)
            # any LP solution is a feasible point: it bounds every cell it moves
            zmax[sup] = np.maximum(zmax[sup], z)
            zmin[sup] = np.minimum(zmin[sup], z)
            if sense < 0:
                zmax[c] = max(zmax[c], -h.getInfo().objective_function_value)
            else:
                zmin[c] = min(zmin[c], h.getInfo().objective_function_value)
        h.changeColBounds(k, 0.0, highspy.kHighsInf)
    lo = np.where(targets, zmin, a)
    hi = np.where(targets, zmax, a)
    return AuditResult(lo=lo, hi=hi, audited=targets,
                       protected=_protected(problem, suppressed, lo, hi),
                       seconds=time.perf_counter() - t0, exact=False,
                       proofs={"directions": len(todo), "witnesses_valid": n_wit,
                               "proven_by_witness": proven_by_witness, "lp_solves": solves})
