"""Cell key method (ABS / Eurostat CKM, as τ-Argus 4.2 and the R packages cellKey/ptable).

Each unit gets a record key ~ U[0,1) derived from its id and a secret (HMAC-SHA256), so keys
are reproducible but unguessable. A cell's key is the fractional part of the sum of its units'
record keys; the noise is looked up in a p-table row for the cell's count at that key. The
same set of contributing units therefore always gets the same noise, however the table is
requested (the property that defeats averaging attacks on on-demand tables).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict
from scipy.optimize import linprog

from disclosure._frame import require_columns, to_pandas


def record_keys(unit_ids: Sequence[Any], secret: bytes) -> np.ndarray:
    """U[0,1) keys from HMAC-SHA256(secret, id): deterministic, independent of row order."""
    out = np.empty(len(unit_ids))
    for i, uid in enumerate(unit_ids):
        digest = hmac.new(secret, str(uid).encode(), hashlib.sha256).digest()
        out[i] = int.from_bytes(digest[:7], "big") / 2**56
    return out


class PTable(BaseModel):
    """Perturbation table: for count class j (0..D+1 = "D+1 or more") the noise values and
    their cumulative probability bounds. Built as a maximum-entropy-like distribution with
    zero mean, variance V and |noise| ≤ D; counts below ``js`` (except 0) are never published.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)
    D: int
    V: float
    js: int
    rows: dict[int, tuple[np.ndarray, np.ndarray]]

    @classmethod
    def build(cls, D: int = 2, V: float = 1.0, js: int = 0) -> PTable:
        """Solve, for each count class, the LP of a zero-mean noise with variance V."""
        rows = {}
        for j in range(D + 2):
            noise = np.arange(-D, D + 1)
            allowed = (j + noise >= 0) & ((j + noise >= js) | (j + noise == 0))
            rows[j] = _row(noise[allowed], V if j > 0 else 0.0)
        return cls(D=D, V=V, js=js, rows=rows)

    def noise(self, count: np.ndarray, cell_key: np.ndarray) -> np.ndarray:
        """Noise for each (count, cell key): invert the row's cumulative distribution."""
        out = np.zeros(len(count), dtype=np.int64)
        cls_ = np.minimum(count, self.D + 1)
        for j, (vals, cum) in self.rows.items():
            sel = cls_ == j
            if sel.any():
                out[sel] = vals[np.searchsorted(cum, cell_key[sel], side="right")]
        return out


def _row(noise: np.ndarray, V: float) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities p ≥ 0, Σp = 1, Σp·v = 0, Σp·v² = V, maximising stay probability."""
    if V == 0 or len(noise) == 1:
        p = (noise == 0).astype(float)
    else:
        A = np.vstack([np.ones(len(noise)), noise, noise.astype(float) ** 2])
        res = linprog(-(noise == 0).astype(float) + 1e-3 * np.abs(noise), A_eq=A,
                      b_eq=[1.0, 0.0, V], bounds=(0, 1), method="highs")
        p = res.x if res.status == 0 else (noise == 0).astype(float)
    keep = p > 1e-12
    return noise[keep], np.cumsum(p[keep])[:-1]


class CellKeyResult(BaseModel):
    """The perturbed table with its cell keys (keys are evidence, never published)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    table: pd.DataFrame


def perturb_counts(data: Any, dims: Sequence[str], unit: str, secret: bytes,
                   ptable: PTable | None = None) -> CellKeyResult:
    """Frequency table of distinct units by ``dims`` with cell-key noise (no margins: each
    margin requested is its own cell with its own key, so tables are not additive)."""
    df = to_pandas(data)
    require_columns(df, [*dims, unit])
    ptable = ptable or PTable.build()
    units = df[[*dims, unit]].drop_duplicates()
    units = units.assign(rk=record_keys(units[unit].tolist(), secret))
    grouped = units.groupby(list(dims), observed=True, sort=True).agg(
        count=(unit, "size"), key_sum=("rk", "sum")).reset_index()
    ck = np.mod(grouped["key_sum"].to_numpy(), 1.0)
    count = grouped["count"].to_numpy()
    noise = ptable.noise(count, ck)
    return CellKeyResult(table=grouped.drop(columns="key_sum").assign(
        cell_key=ck, noise=noise, perturbed=count + noise))
