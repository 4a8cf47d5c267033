"""A table as a linear system: cell values, additivity rows, primaries, protection levels.

The table is a vector of non-negative cells ``a`` with additivity constraints ``A a = 0``
(every total minus its children). Cells of a cross-classification also carry their *node*
in every dimension's hierarchy (municipality ⊂ province ⊂ Total), which the hypercube method
uses to build deviations dimension by dimension; problems assembled by hand (linked
publication tables) may leave the nodes out and are then protected by the LP methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict
from scipy import sparse

from disclosure.rules import RuleParams, required_protection
from sdwh.errors import SdwhError

Cost = Literal["value", "count", "log"]


class CellProblem(BaseModel):
    """A table ready for protection: values, additivity matrix, primaries, protection levels.

    ``nodes`` (cells × dimensions) and ``parents`` (per dimension: parent node or −1) describe
    the cross-classification when there is one.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)
    values: np.ndarray
    A: sparse.csr_matrix
    primary: np.ndarray
    upper: np.ndarray
    lower: np.ndarray
    cost: np.ndarray
    scale: float = 1.0
    nodes: np.ndarray | None = None
    parents: list[np.ndarray] | None = None


def cost_vector(values: np.ndarray, cost: Cost) -> np.ndarray:
    """Information loss per suppressed cell: its value (τ-Argus default), 1, or log value."""
    if cost == "value":
        return np.abs(values) + 1.0
    if cost == "count":
        return np.ones(len(values))
    return np.log1p(np.abs(values)) + 1.0


def cell_nodes(cells: pd.DataFrame, dims: Sequence[str]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Node id of every cell in every dimension, and each dimension's parent array.

    A node is one (code, level) of a dimension; its parent comes from ``<dim>__parent`` (the
    code one level up, or the Total). Roots (the Total, or top codes without margins) get −1.
    """
    nodes = np.empty((len(cells), len(dims)), dtype=np.int64)
    parents = []
    for j, d in enumerate(dims):
        level = cells[f"{d}__level"].to_numpy(dtype=np.int64)
        key = pd.Series(level.astype(str)) + "\x1f" + cells[d].astype(str).reset_index(drop=True)
        codes, uniques = pd.factorize(key, sort=True)
        nodes[:, j] = codes
        par = cells[f"{d}__parent"].reset_index(drop=True)
        has = par.notna().to_numpy()
        pkey = pd.Series((level + 1).astype(str)) + "\x1f" + par.astype(str)
        pnode = np.where(has, pd.Index(uniques).get_indexer(pkey), -1)
        parent = np.full(len(uniques), -1, dtype=np.int64)
        parent[codes] = pnode  # every cell of a node names the same parent
        parents.append(parent)
    return nodes, parents


class CellIndex:
    """Cell id from a tuple of node ids, vectorised (sorted linear keys, binary search)."""

    def __init__(self, nodes: np.ndarray, sizes: Sequence[int]):
        self.shape = tuple(int(s) for s in sizes)
        lin = np.ravel_multi_index(tuple(nodes.T), self.shape)
        self.order = np.argsort(lin, kind="stable")
        self.sorted = lin[self.order]

    def lookup(self, nodes: np.ndarray) -> np.ndarray:
        """Cell ids for rows of node ids (… × k), −1 where no such cell exists."""
        flat = nodes.reshape(-1, nodes.shape[-1])
        ok = (flat >= 0).all(axis=1)
        lin = np.zeros(len(flat), dtype=np.int64)
        lin[ok] = np.ravel_multi_index(tuple(flat[ok].T), self.shape)
        pos = np.searchsorted(self.sorted, lin).clip(0, max(len(self.sorted) - 1, 0))
        hit = ok & (self.sorted[pos] == lin) if len(self.sorted) else np.zeros_like(ok)
        return np.where(hit, self.order[pos], -1).reshape(nodes.shape[:-1])


def additivity_from_nodes(nodes: np.ndarray, parents: Sequence[np.ndarray]) -> sparse.csr_matrix:
    """One row per (dimension, parent cell): Σ children − parent = 0."""
    n, k = nodes.shape
    index = CellIndex(nodes, [len(p) for p in parents])
    rows_key, child, parent_cell = [], [], []
    for j in range(k):
        up = parents[j][nodes[:, j]]
        has = np.flatnonzero(up >= 0)
        target = nodes[has].copy()
        target[:, j] = up[has]
        pc = index.lookup(target)
        ok = pc >= 0
        rows_key.append(j * n + pc[ok])
        child.append(has[ok])
        parent_cell.append(pc[ok])
    keys = np.concatenate(rows_key) if rows_key else np.zeros(0, np.int64)
    kids = np.concatenate(child) if child else np.zeros(0, np.int64)
    row, uniq = pd.factorize(keys, sort=True)
    m = len(uniq)
    par = uniq % n if n else uniq
    rows = np.concatenate([row, np.arange(m)])
    cols = np.concatenate([kids, par])
    vals = np.concatenate([np.ones(len(kids)), -np.ones(m)])
    return sparse.csr_matrix((vals, (rows, cols)), shape=(m, n))


def additivity_matrix(cells: pd.DataFrame, dims: Sequence[str]) -> sparse.csr_matrix:
    """One row per (total, dimension): total − Σ children = 0, from the parent columns."""
    return additivity_from_nodes(*cell_nodes(cells, dims))


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
    nodes, parents = cell_nodes(cells, dims)
    return CellProblem(values=values / scale, A=additivity_from_nodes(nodes, parents),
                       primary=primary, upper=upper / scale, lower=lower / scale,
                       cost=cost_vector(values, cost), scale=scale, nodes=nodes,
                       parents=parents)
