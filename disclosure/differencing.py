"""Cross-output differencing: what do all tables released for a project reveal together?

Every released cell is a count (or sum) over *atoms*: the finest groups of records formed by
all variables and filters the released tables use. A published cell is a linear equation over
atom values; a suppressed cell is an unknown. The intruder's knowledge is the polytope
``{x ≥ 0 : Σ_{atoms in cell} x = published value}``; the LP over it gives, for every
suppressed cell and every small atom, the exact interval an intruder can derive from *all*
outputs together (Fellegi 1972; Cox's audit). Findings:

* a suppressed cell whose interval is exact, or whose upper bound is below the threshold
  (the ACRO leak of report §1.6: a suppressed 9 recovered from two tables' margins);
* a group of 0 < n < threshold records that is exactly determined although no released cell
  shows it (nested filters, categories that differ by one group, margins).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import highspy
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from disclosure.rules import _q, _source
from sdwh.errors import SdwhError

TOL = 1e-6


class ReleasedTable(BaseModel):
    """A released (or candidate) table: definition plus the values as published.

    ``cells`` is long form: one column per dimension (``total_label`` for a margin) and
    ``value`` (NaN where suppressed). ``where`` is an SQL condition on the microdata.
    ``margins_exclude_suppressed`` describes ACRO's ``suppress=True``, whose margins are
    recomputed after deleting the records of suppressed cells.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)
    name: str
    dims: list[str]
    cells: pd.DataFrame
    where: str | None = None
    value: str | None = None
    total_label: str = "All"
    margins_exclude_suppressed: bool = False


class Finding(BaseModel):
    """One disclosure an intruder can derive from the released tables together."""

    kind: str  # "suppressed_cell_recovered" | "small_group_revealed"
    table: str | None = None
    cell: dict[str, str] = Field(default_factory=dict)
    true_value: float
    lo: float
    hi: float
    explanation: str


def from_crosstab(name: str, wide: pd.DataFrame, row: str, col: str, where: str | None = None,
                  **kw: Any) -> ReleasedTable:
    """Long-form ReleasedTable from a crosstab as printed (index = row codes, columns = col)."""
    long = wide.stack(future_stack=True).reset_index()
    long.columns = [row, col, "value"]
    long[[row, col]] = long[[row, col]].astype(str)
    return ReleasedTable(name=name, dims=[row, col], cells=long, where=where, **kw)


def _atoms(con: duckdb.DuckDBPyConnection, tables: Sequence[ReleasedTable]) -> pd.DataFrame:
    variables = sorted({d for t in tables for d in t.dims})
    values = {t.value for t in tables if t.value}
    if len(values) > 1:
        raise SdwhError("Released tables mix different value variables.",
                        "Check count tables and each magnitude variable separately.")
    measure = f"sum(CAST({_q(values.pop())} AS DOUBLE))" if values else "count(*)"
    flags = [f"coalesce(({t.where}), false) AS f{i}" if t.where else f"true AS f{i}"
             for i, t in enumerate(tables)]
    sel = ", ".join([*(f"CAST({_q(v)} AS VARCHAR) AS {_q(v)}" for v in variables), *flags])
    try:
        return con.execute(f"SELECT {sel}, {measure} AS n FROM src GROUP BY ALL").df()
    except duckdb.Error as err:
        raise SdwhError(f"A released table's definition does not run on the microdata: {err}",
                        "Each 'where' must be an SQL condition on the microdata columns.") from err


def _cell_rows(atoms: pd.DataFrame, t: int, table: ReleasedTable
               ) -> list[tuple[dict[str, str], np.ndarray, float]]:
    """(cell codes, atom indicator, published value) for every cell of one table."""
    in_table = atoms[f"f{t}"].to_numpy(dtype=bool)
    cells = table.cells
    inner = np.ones(len(cells), dtype=bool)
    for d in table.dims:
        inner &= cells[d].astype(str).to_numpy() != table.total_label
    codes = {d: atoms[d].to_numpy(dtype=object) for d in table.dims}  # converted once
    excluded = np.zeros(len(atoms), dtype=bool)
    if table.margins_exclude_suppressed:
        for _, cell in cells[inner & cells["value"].isna().to_numpy()].iterrows():
            excluded |= _match(codes, len(atoms), table, cell)
    out = []
    for k, (_, cell) in enumerate(cells.iterrows()):
        mask = in_table & _match(codes, len(atoms), table, cell)
        if not inner[k]:
            mask &= ~excluded
        out.append(({d: str(cell[d]) for d in table.dims}, mask, float(cell["value"])))
    return out


def _match(codes: dict[str, np.ndarray], n: int, table: ReleasedTable, cell: pd.Series
           ) -> np.ndarray:
    mask = np.ones(n, dtype=bool)
    for d in table.dims:
        code = str(cell[d])
        if code != table.total_label:
            mask &= codes[d] == code
    return mask


def find_disclosures(microdata: Any, released: Sequence[ReleasedTable],
                     threshold: int = 10) -> list[Finding]:
    """All disclosures derivable from ``released`` together (see the module docstring)."""
    con = duckdb.connect()
    _source(con, microdata)
    atoms = _atoms(con, released)
    truth = atoms["n"].to_numpy(dtype=float)
    eq_rows, eq_vals, unknown = [], [], []
    for t, table in enumerate(released):
        for codes, mask, value in _cell_rows(atoms, t, table):
            if np.isnan(value):
                unknown.append((table.name, codes, mask))
            else:
                eq_rows.append(mask)
                eq_vals.append(value)
    solver = _IntervalSolver(np.array(eq_rows, dtype=float).reshape(-1, len(atoms)),
                             np.array(eq_vals))
    findings = []
    for name, codes, mask in unknown:
        lo, hi = solver.interval(mask.astype(float))
        true = float(truth[mask].sum())
        if hi - lo < TOL * max(1.0, abs(true)) or hi < threshold:
            findings.append(Finding(
                kind="suppressed_cell_recovered", table=name, cell=codes, true_value=true,
                lo=lo, hi=hi, explanation=f"suppressed cell of {name} {codes} lies in "
                f"[{lo:g}, {hi:g}] given all released tables"))
    covered = {tuple(m) for _, _, m in unknown}
    small = np.flatnonzero((truth > 0) & (truth < threshold))
    if len(small) and (truth > 0).all():
        small = small[_in_row_space(solver.E, small)]
    for a in small:
        ind = np.zeros(len(atoms))
        ind[a] = 1.0
        lo, hi = solver.interval(ind)
        if hi - lo < TOL * max(1.0, truth[a]) and tuple(ind.astype(bool)) not in covered:
            group = {v: str(atoms.iloc[a][v]) for v in atoms.columns
                     if v != "n" and not v.startswith("f")}
            findings.append(Finding(
                kind="small_group_revealed", cell=group, true_value=float(truth[a]), lo=lo,
                hi=hi, explanation=f"a group of {truth[a]:g} record(s) is exactly determined "
                "by differences between released cells"))
    return findings


def check_new_table(microdata: Any, released: Sequence[ReleasedTable],
                    candidate: ReleasedTable, threshold: int = 10) -> list[Finding]:
    """Findings that appear only once ``candidate`` is released next to ``released``."""
    before = {(f.kind, f.table, tuple(sorted(f.cell.items())))
              for f in find_disclosures(microdata, released, threshold)} if released else set()
    after = find_disclosures(microdata, [*released, candidate], threshold)
    return [f for f in after if (f.kind, f.table, tuple(sorted(f.cell.items()))) not in before]


def _in_row_space(E: np.ndarray, atoms: np.ndarray) -> np.ndarray:
    """Which unit vectors e_a may lie in the row space of E (a cheap filter before the LP).

    When every atom's true value is positive, the truth is an interior point of
    ``{x ≥ 0 : E x = b}``, so x_a is exactly determined iff e_a is a combination of the
    equations; other atoms can move both ways and need no LP. The squared length of e_a's
    projection on the row space is E_aᵀ (E Eᵀ)⁺ E_a (1 for members); the generous cut-off
    only lets numerical near-misses through to the LP, which decides.
    """
    if E.shape[0] == 0 or len(atoms) == 0:
        return np.zeros(len(atoms), dtype=bool)
    from scipy import sparse

    sp = sparse.csr_matrix(E)
    w, U = np.linalg.eigh((sp @ sp.T).toarray())
    keep = w > max(w.max(), 1.0) * 1e-12
    cols = E[:, atoms]
    proj = U[:, keep].T @ cols
    norms = ((proj ** 2) / w[keep, None]).sum(axis=0)
    return norms > 1 - 1e-3


class _IntervalSolver:
    """min/max of c·x over {x ≥ 0, E x = b}, one HiGHS model re-used for every objective."""

    def __init__(self, E: np.ndarray, b: np.ndarray) -> None:
        self.E = E
        self.n = E.shape[1]
        self.h = highspy.Highs()
        self.h.setOptionValue("output_flag", False)
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = self.n, E.shape[0]
        lp.col_cost_ = np.zeros(self.n)
        lp.col_lower_ = np.zeros(self.n)
        lp.col_upper_ = np.full(self.n, highspy.kHighsInf)
        lp.row_lower_ = b
        lp.row_upper_ = b
        from scipy import sparse

        csc = sparse.csc_matrix(E)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = csc.indptr
        lp.a_matrix_.index_ = csc.indices
        lp.a_matrix_.value_ = csc.data
        self.h.passModel(lp)
        self.idx = np.arange(self.n, dtype=np.int32)

    def interval(self, c: np.ndarray) -> tuple[float, float]:
        out = []
        for sense in (1.0, -1.0):
            self.h.changeColsCost(self.n, self.idx, sense * c)
            self.h.run()
            status = self.h.getModelStatus()
            if status == highspy.HighsModelStatus.kUnbounded:
                out.append(-sense * np.inf)
            elif status == highspy.HighsModelStatus.kOptimal:
                out.append(sense * self.h.getInfo().objective_function_value)
            else:
                raise SdwhError("The released tables are inconsistent with the microdata.",
                                "Check each table's definition (filter, margins mode).")
        return out[0], out[1]
