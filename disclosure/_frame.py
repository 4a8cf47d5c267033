"""Input normalisation and key encoding shared by the table and microdata modules.

Every public function accepts a pandas DataFrame, a pyarrow Table or a DuckDB relation, so the
library never forces a caller to materialise data in one particular engine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from sdwh.errors import SdwhError


def to_pandas(data: Any) -> pd.DataFrame:
    """Return ``data`` (DataFrame, Arrow table, DuckDB relation) as a pandas DataFrame."""
    if isinstance(data, pd.DataFrame):
        return data
    if hasattr(data, "to_pandas"):  # pyarrow.Table
        return data.to_pandas()
    if hasattr(data, "df"):  # duckdb.DuckDBPyRelation
        return data.df()
    raise SdwhError(
        f"Unsupported input of type {type(data).__name__}.",
        "Pass a pandas DataFrame, a pyarrow Table or a DuckDB relation.",
    )


def require_columns(df: pd.DataFrame, columns: Sequence[str], what: str = "input") -> None:
    """Fail with one sentence naming the missing columns (a typo is the usual cause)."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise SdwhError(
            f"Column(s) {', '.join(missing)} not found in the {what}.",
            f"Available columns: {', '.join(map(str, df.columns))}.",
        )


def encode_keys(df: pd.DataFrame, keys: Sequence[str]) -> np.ndarray:
    """Integer codes (n × k, sorted category order, -1 for missing) for the key columns."""
    out = np.empty((len(df), len(keys)), dtype=np.int64)
    for j, key in enumerate(keys):
        codes, _ = pd.factorize(df[key], sort=True, use_na_sentinel=True)
        out[:, j] = codes
    return out


def group_ids(codes: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense group id per row for the combination of the code columns (no missing codes)."""
    n, k = codes.shape
    if k == 0:
        return np.zeros(n, dtype=np.int64), 1 if n else 0
    card = codes.max(axis=0) + 1 if n else np.ones(k, dtype=np.int64)
    if float(np.prod(card.astype(float))) < 2**62:
        lin = np.ravel_multi_index(tuple(codes.T), tuple(int(c) for c in card))
        if int(np.prod(card)) <= 4 * max(n, 1_000_000):
            present = np.bincount(lin, minlength=int(np.prod(card))) > 0
            remap = np.cumsum(present) - 1
            return remap[lin], int(present.sum())
        uniq, inv = np.unique(lin, return_inverse=True)
        return inv, len(uniq)
    uniq, inv = np.unique(codes, axis=0, return_inverse=True)
    return inv.ravel(), len(uniq)


def sha256_frame(df: pd.DataFrame) -> str:
    """Stable SHA-256 of a frame's content, for verdict evidence (order and dtype sensitive)."""
    digest = hashlib.sha256()
    digest.update(",".join(map(str, df.columns)).encode())
    digest.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return digest.hexdigest()
