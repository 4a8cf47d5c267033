"""Cell key perturbation and the contributor threshold for query results (pure logic).

Record keys are ``disclosure.cellkey.record_keys`` kept as 56-bit integers (the first 7 bytes
of HMAC-SHA256(secret, person id)), so a cell's key is ``(Σ record keys) mod 2**56`` computed in
exact integer arithmetic: the same persons give the same key whatever order or sub-cells the
sum was taken over (a float sum would differ in its last bits between query paths). Noise
comes from the shared p-table (``disclosure.cellkey.PTable``). The secret lives in
``<home>/secrets/cellkey.key`` (0600) or ``SDWH_API_CELLKEY_KEY``; it must never change
between releases, or the same cell would get new noise and differencing would pay.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

from disclosure.cellkey import PTable

KEY_BITS = 56
MODULUS = 2**KEY_BITS
SUPPRESSED = "c"   # flag: confidential, fewer distinct persons than the threshold
NOT_APPLICABLE = "n"  # flag: a ratio with a suppressed or empty part


def record_key_int(unit_id: str, secret: bytes) -> int:
    """A person's record key as an integer in [0, 2**56); equals record_keys()·2**56."""
    digest = hmac.new(secret, str(unit_id).encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[: KEY_BITS // 8], "big")


def hmac_pads(secret: bytes) -> tuple[str, str]:
    """Inner and outer HMAC-SHA256 pads (hex), for computing record keys inside DuckDB."""
    key = secret if len(secret) <= 64 else hashlib.sha256(secret).digest()
    key = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key).hex(), bytes(b ^ 0x5C for b in key).hex()


def record_key_sql(column: str) -> str:
    """DuckDB expression of the record key of ``column``; pads are parameters $ipad, $opad
    (so the key never appears in SQL text)."""
    inner = f"unhex(sha256(unhex($ipad) || encode(CAST({column} AS VARCHAR))))"
    return f"CAST(('0x' || left(sha256(unhex($opad) || {inner}), {KEY_BITS // 4})) AS BIGINT)"


def cell_key(key_sum: int) -> float:
    """The cell key in [0, 1) of a cell whose record keys sum to ``key_sum``."""
    return (int(key_sum) % MODULUS) / MODULUS


@cache
def ptable(D: int, V: float) -> PTable:
    """The p-table for (D, V), built once per process (an LP per count class)."""
    return PTable.build(D=D, V=V)


@dataclass(frozen=True)
class Protected:
    """Published values (None where suppressed) and their flags, aligned with the input."""

    values: list[int | None]
    flags: list[str]


def protect_counts(counts: Sequence[int], key_sums: Sequence[int], threshold: int,
                   D: int = 2, V: float = 1.0) -> Protected:
    """Perturb each count by its cell key; withhold counts of 1 … threshold−1 persons.

    Zero stays zero (the p-table row 0 has no noise) and a perturbed count is never negative.
    """
    n = np.asarray(counts, dtype=np.int64)
    if isinstance(key_sums, np.ndarray) and key_sums.dtype == np.int64:
        keys = (key_sums % MODULUS).astype(np.float64) / MODULUS  # already exact integers
    else:  # Python ints of any size
        keys = (np.asarray(key_sums, dtype=object) % MODULUS).astype(np.float64) / MODULUS
    noise = ptable(D, V).noise(n, keys) if len(n) else np.zeros(0, dtype=np.int64)
    published = n + noise
    small = (n > 0) & (n < threshold)
    values = published.astype(object)
    values[small] = None
    return Protected(values.tolist(), np.where(small, SUPPRESSED, "").tolist())


def ratio(numerator: int | None, denominator: int | None, scale: float = 100.0,
          digits: int = 1) -> tuple[float | None, str]:
    """A derived ratio of two protected counts, or None with flag ``n`` when undefined."""
    if numerator is None or denominator is None or denominator <= 0:
        return None, NOT_APPLICABLE
    return round(scale * numerator / denominator, digits), ""


def ratio_columns(numerators: Sequence[int | None], denominators: Sequence[int | None],
                  scale: float = 100.0, digits: int = 1) -> tuple[list[float | None], list[str]]:
    """``ratio`` over two columns (one list comprehension, no call per cell)."""
    values = [None if x is None or y is None or y <= 0 else round(scale * x / y, digits)
              for x, y in zip(numerators, denominators, strict=True)]
    return values, [NOT_APPLICABLE if v is None else "" for v in values]
