"""Hypercube secondary suppression (GHMITER-like) for large hierarchical cross-tables.

For a primary cell p and a direction (up: the intruder must not exclude ``a_p + upper``;
down: ``a_p − lower``) the method looks for a *hypercube deviation*: a vector ``y`` that is a
product of one factor per dimension, ``y = ±need · Π_d f_d(node_d)``, where each factor lives
on the dimension's hierarchy and is additive on it (``f(parent) = Σ f(children)``). Such a
product keeps every total of the table (``A y = 0``) whatever the other dimensions do.

A factor for the node x of p is one of:

* ``+1`` on x and ``−1`` on a sibling x′ (the classic 2-corner edge), each continued by ``±1``
  down one path to a leaf when the node is not a leaf;
* the same one or more levels up: ``+1`` from x up to an ancestor A, ``−1`` on a sibling of A;
* ``+1`` from x up to the root (a total: then no cell of that dimension is decreased).

Feasibility: every corner that the deviation lowers must hold at least ``need`` (cells stay
≥ 0). Among the feasible hypercubes the one with the least cost of cells not yet suppressed
is taken (already suppressed cells are free), its cells are suppressed and ``y`` is kept as a
*witness*: a feasible point of the intruder's polytope that proves the direction, which the
audit re-checks independently. The suppressed set only grows, so earlier witnesses stay valid.
Directions with no feasible hypercube (e.g. all siblings too small) are handed back for the
LP repair of the fast method.

The search for one direction is a vectorised enumeration over the option lists of the
dimensions (capped at ``max_combos`` combinations, keeping the options on the heaviest
nodes), so a primary costs about a millisecond whatever the table size.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from disclosure.problem import CellProblem


@dataclass
class _Dim:
    """One dimension's hierarchy and the option lists built on it (cached per node)."""

    parent: np.ndarray
    children: list[list[int]]
    weight: np.ndarray
    stride: int
    max_siblings: int
    max_leaves: int
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def _down_paths(self, x: int) -> list[list[int]]:
        """Paths from x (exclusive) to a leaf, heaviest first; [[]] when x is a leaf."""
        if not self.children[x]:
            return [[]]
        out: list[list[int]] = []
        for c in sorted(self.children[x], key=lambda c: (-self.weight[c], c)):
            out.extend([c, *rest] for rest in self._down_paths(c)[: self.max_leaves])
            if len(out) >= self.max_leaves:
                break
        return out[: self.max_leaves]

    def options(self, x: int) -> tuple[np.ndarray, np.ndarray]:
        """(linear offsets, signs) of every factor for node x, padded to a common length."""
        if x in self.cache:
            return self.cache[x]
        supports: list[tuple[list[int], list[int]]] = []
        downs = self._down_paths(x)
        root = [x]
        while self.parent[root[-1]] >= 0:
            root.append(int(self.parent[root[-1]]))
        # first (so never trimmed): +1 up to the root, nothing lowered in this dimension
        supports.extend((root + d, [1] * (len(root) + len(d))) for d in downs)
        up = [x]
        node = x
        while True:
            par = int(self.parent[node])
            if par < 0:
                break
            sibs = [s for s in self.children[par] if s != node]
            sibs.sort(key=lambda s: (-self.weight[s], s))
            for s in sibs[: self.max_siblings]:
                for d in downs:
                    for e in self._down_paths(s):
                        neg = [s, *e]
                        supports.append((up + d + neg, [1] * (len(up) + len(d)) + [-1] * len(neg)))
            up = [*up, par]
            node = par
        width = max(len(s) for s, _ in supports)
        lin = np.zeros((len(supports), width), dtype=np.int64)
        sgn = np.zeros((len(supports), width), dtype=np.int8)
        for i, (nodes, signs) in enumerate(supports):
            lin[i, : len(nodes)] = np.asarray(nodes) * self.stride
            sgn[i, : len(nodes)] = signs
        self.cache[x] = (lin, sgn)
        return lin, sgn


def _dims(problem: CellProblem, max_siblings: int, max_leaves: int) -> list[_Dim]:
    assert problem.nodes is not None and problem.parents is not None
    sizes = [len(p) for p in problem.parents]
    strides = np.cumprod([1, *sizes[::-1]])[:-1][::-1]
    out = []
    for j, parent in enumerate(problem.parents):
        children: list[list[int]] = [[] for _ in range(len(parent))]
        for node in np.argsort(parent, kind="stable"):
            if parent[node] >= 0:
                children[int(parent[node])].append(int(node))
        weight = np.bincount(problem.nodes[:, j], weights=problem.values, minlength=len(parent))
        out.append(_Dim(parent, children, weight, int(strides[j]), max_siblings, max_leaves))
    return out


class _Grid:
    """Cell id from a linear node index: dense array when the table is a full grid."""

    def __init__(self, problem: CellProblem, dims: Sequence[_Dim]):
        assert problem.nodes is not None
        lin = (problem.nodes * np.array([d.stride for d in dims])).sum(axis=1)
        size = int(np.prod([len(d.parent) for d in dims]))
        self.dense = size <= 4 * len(lin) + 1_000_000
        if self.dense:
            self.table = np.full(size, -1, dtype=np.int64)
            self.table[lin] = np.arange(len(lin))
        else:
            self.order = np.argsort(lin)
            self.sorted = lin[self.order]

    def __call__(self, lin: np.ndarray) -> np.ndarray:
        if self.dense:
            return self.table[lin]
        pos = np.searchsorted(self.sorted, lin).clip(0, len(self.sorted) - 1)
        return np.where(self.sorted[pos] == lin, self.order[pos], -1)


def _combine(opts: list[tuple[np.ndarray, np.ndarray]], max_combos: int
             ) -> tuple[np.ndarray, np.ndarray]:
    """All combinations of the per-dimension options: (C × K) linear ids and signs."""
    counts = [len(o[0]) for o in opts]
    while np.prod(counts, dtype=float) > max_combos:
        j = int(np.argmax(counts))
        counts[j] = max(1, counts[j] // 2)
    k = len(opts)
    lin = np.zeros([1] * (2 * k), dtype=np.int64)
    sgn = np.ones([1] * (2 * k), dtype=np.int8)
    for j, ((ol, os), c) in enumerate(zip(opts, counts, strict=True)):
        shape = [1] * (2 * k)
        shape[j], shape[k + j] = c, ol.shape[1]
        lin = lin + ol[:c].reshape(shape)
        sgn = sgn * os[:c].reshape(shape)
    n_combo = int(np.prod(counts))
    return lin.reshape(n_combo, -1), sgn.reshape(n_combo, -1)


def protect_hypercube(problem: CellProblem, deadline: float | None = None,
                      start: np.ndarray | None = None, max_combos: int = 2048,
                      max_siblings: int = 24, max_leaves: int = 8, within: bool = False
                      ) -> tuple[np.ndarray, sparse.csr_matrix, list[tuple[int, int, float]]]:
    """Suppression pattern, witness deviations (one row each), directions left for the LP.

    ``within=True`` grows nothing: it only looks for cubes inside the pattern ``start``,
    which turns any given pattern into witnesses for the audit.
    """
    if problem.nodes is None or problem.parents is None:
        raise ValueError("the hypercube method needs the table's dimensions (nodes)")
    a, cost = problem.values, problem.cost
    supp = problem.primary.copy() if start is None else start | problem.primary
    dims = _dims(problem, max_siblings, max_leaves)
    grid = _Grid(problem, dims)
    zmax, zmin = a.copy(), a.copy()
    w_rows: list[np.ndarray] = []
    w_cols: list[np.ndarray] = []
    w_vals: list[np.ndarray] = []
    left: list[tuple[int, int, float]] = []
    prim = np.flatnonzero(problem.primary)
    order = prim[np.argsort(-a[prim], kind="stable")]
    for p in order:
        up, down = problem.upper[p], problem.lower[p]
        need_up = up > 0 and zmax[p] < a[p] + up
        need_down = down > 0 and zmin[p] > a[p] - down
        if not (need_up or need_down):
            continue
        if deadline is not None and time.perf_counter() > deadline:
            raise TimeoutError("hypercube suppression exceeded its time budget")
        lin, sgn = _combine([d.options(int(x)) for d, x in zip(dims, problem.nodes[p],
                                                                strict=True)], max_combos)
        active = sgn != 0
        cell = np.where(active, grid(np.where(active, lin, 0)), 0)
        exists = (~active | (cell >= 0)).all(axis=1)
        cell = np.maximum(cell, 0)
        val = a[cell]
        price = np.where(active & ~supp[cell], cost[cell], 0.0)
        combo_cost = price.sum(axis=1)
        # up: corners with sign −1 are lowered by `up`; down: corners with sign +1 by `down`
        ok_up = exists & ~(active & (sgn < 0) & (val < up)).any(axis=1)
        ok_down = exists & ~(active & (sgn > 0) & (val < down)).any(axis=1)
        if within:
            inside = ~(active & ~supp[cell]).any(axis=1)
            ok_up &= inside
            ok_down &= inside
        for direction, wanted, ok, need in ((1, need_up, ok_up, up), (-1, need_down, ok_down,
                                                                      down)):
            if not wanted or ((zmax[p] >= a[p] + up) if direction > 0 else
                              (zmin[p] <= a[p] - down)):
                continue
            if not ok.any():
                left.append((int(p), direction, float(need)))
                continue
            both = ok_up & ok_down
            # the cheapest feasible cube; among equal costs prefer one serving both directions
            key = np.where(ok, combo_cost - 1e-9 * both, np.inf)
            best = int(np.argmin(key))
            cells = cell[best][active[best]]
            signs = sgn[best][active[best]].astype(float)
            supp[cells] = True
            for s, amount in ((direction, need), (-direction, down if direction > 0 else up)):
                if amount <= 0 or not (ok_down if s < 0 else ok_up)[best]:
                    continue
                y = s * amount * signs
                w_rows.append(np.full(len(cells), len(w_rows)))
                w_cols.append(cells)
                w_vals.append(y)
                zmax[cells] = np.maximum(zmax[cells], a[cells] + y)
                zmin[cells] = np.minimum(zmin[cells], a[cells] + y)
    if w_rows:
        W = sparse.csr_matrix((np.concatenate(w_vals), (np.concatenate(w_rows),
                                                        np.concatenate(w_cols))),
                              shape=(len(w_rows), len(a)))
    else:
        W = sparse.csr_matrix((0, len(a)))
    return supp, W, left
