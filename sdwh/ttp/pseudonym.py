"""Keyed pseudonyms: HMAC-SHA256 of the national number, truncated to 128 bits (32 hex).

128 bits keep the chance of two persons sharing a pseudonym negligible at any population
size (≈ 10⁻²⁴ for 12 M persons), while halving the bytes the warehouse joins on.

:func:`pseudonymise` is the reference; :func:`hmac_sql` builds the same HMAC as a DuckDB
expression (``sha256`` over BLOBs with the key's inner and outer pads), which runs ~3× faster
than a Python loop and is tested to give byte-identical results.
:class:`PseudonymCache` is what ingest uses: it hashes each distinct national number once per
run, however many deliveries and rows carry it.
"""

from __future__ import annotations

import hashlib
import hmac
import threading

import duckdb
import numpy as np
import pyarrow as pa

PSEUDONYM_HEX = 32
_BLOCK = 64  # SHA-256 block size in bytes


def pseudonymise(value: str, key: bytes) -> str:
    """The pseudonym of one national number under ``key``."""
    return hmac.new(key, value.encode("ascii"), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX]


def _pads(key: bytes) -> tuple[str, str]:
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    inner = bytes(b ^ 0x36 for b in key).hex()
    outer = bytes(b ^ 0x5C for b in key).hex()
    return inner, outer


def hmac_sql(column: str, key: bytes) -> str:
    """A DuckDB SQL expression computing :func:`pseudonymise` of ``column`` (VARCHAR).

    The pads are derived from the key and appear as literals in the SQL text, so the
    statement must never be logged; callers keep it out of error messages.
    """
    inner, outer = _pads(key)
    return (
        f"substr(sha256(unhex('{outer}') || unhex(sha256(unhex('{inner}') || "
        f"encode({column})))), 1, {PSEUDONYM_HEX})"
    )


NATIONAL_NUMBER_DIGITS = 11
_MERGE_AFTER = 16  # small segments kept beside the main one before all are merged
#: From this many new numbers on, HMACs run in DuckDB (C, two threads, GIL released)
#: instead of a Python loop, which holds the GIL and kept the other ingest worker waiting.
SQL_HMAC_FROM = 20_000


def _digit_matrix(values: pa.Array) -> np.ndarray | None:
    """``values`` as an (n, 11) matrix of ASCII digits, or None if any value is null or not
    exactly 11 digits (the caller then takes the general path)."""
    n = len(values)
    if values.type != pa.string() or values.null_count:
        return None
    offsets = np.frombuffer(values.buffers()[1], np.int32)[values.offset:values.offset + n + 1]
    if n == 0 or not np.all(np.diff(offsets) == NATIONAL_NUMBER_DIGITS):
        return None if n else np.empty((0, NATIONAL_NUMBER_DIGITS), np.uint8)
    data = np.frombuffer(values.buffers()[2], np.uint8)[offsets[0]:offsets[-1]]
    digits = data.reshape(n, NATIONAL_NUMBER_DIGITS)
    if not np.all((digits >= 48) & (digits <= 57)):
        return None
    return digits


def _as_numbers(digits: np.ndarray) -> np.ndarray:
    number = np.zeros(len(digits), np.int64)
    for k in range(NATIONAL_NUMBER_DIGITS):
        number = number * 10 + (digits[:, k] - 48)
    return number


def _hex_array(hexes: np.ndarray) -> pa.Array:
    """A fixed-width ``S32`` numpy array as an Arrow string array, without copying per value."""
    n = len(hexes)
    offsets = np.arange(0, (n + 1) * PSEUDONYM_HEX, PSEUDONYM_HEX, dtype=np.int64)
    return pa.Array.from_buffers(pa.large_string(), n, [
        None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(hexes))]).cast(pa.string())


class PseudonymCache:
    """Pseudonyms of the national numbers met so far in one ingest run.

    A person appears in many deliveries (the yearly register, one or more DmfA lines a
    quarter, monthly snapshots), so hashing each distinct number once instead of each row
    removes most of the HMAC cost. The map is held in memory only, on the TTP side, as sorted
    int64 numbers and their 32-hex pseudonyms; it is never written anywhere. Thread-safe:
    ingest workers share one cache. Results equal :func:`pseudonymise` value for value.
    """

    def __init__(self, key: bytes) -> None:
        inner, outer = (bytes.fromhex(p) for p in _pads(key))
        self._inner, self._outer = hashlib.sha256(inner), hashlib.sha256(outer)
        self._key = key
        self._segments: list[tuple[np.ndarray, np.ndarray]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return sum(len(k) for k, _ in self._segments)

    def pseudonyms(self, values: pa.Array) -> pa.Array:
        """The pseudonym of each value of a string array, as a string array."""
        digits = _digit_matrix(values)
        if digits is None:  # not all plain 11-digit numbers: hash each row
            return pa.array([None if v is None else pseudonymise(v, self._key)
                             for v in values.to_pylist()], pa.string())
        numbers = _as_numbers(digits)
        order = np.argsort(numbers)  # sorted lookups touch the cache's memory in order
        numbers = numbers[order]
        found = np.empty(len(numbers), f"S{PSEUDONYM_HEX}")
        rows = np.arange(len(numbers))  # positions (in sorted order) not found yet
        with self._lock:
            segments = list(self._segments)
        for keys, hexes in segments:  # the big merged segment first: later ones see few rows
            wanted = numbers[rows]
            pos = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
            hit = keys[pos] == wanted
            found[rows[hit]] = hexes[pos[hit]]
            rows = rows[~hit]
            if not len(rows):
                break
        if len(rows):
            first = rows[np.r_[True, numbers[rows[1:]] != numbers[rows[:-1]]]]
            new = numbers[first]
            hexes = self._hmacs(digits[order[first]])
            found[rows] = hexes[np.searchsorted(new, numbers[rows])]
            self._add(new, hexes)
        out = np.empty_like(found)
        out[order] = found
        return _hex_array(out)

    def _hmacs(self, digits: np.ndarray) -> np.ndarray:
        """Pseudonyms (``S32``) of the numbers in an (n, 11) ASCII digit matrix."""
        if len(digits) < SQL_HMAC_FROM:
            return np.array([self._hmac(row.tobytes()) for row in digits], f"S{PSEUDONYM_HEX}")
        n = len(digits)
        offsets = np.arange(0, (n + 1) * NATIONAL_NUMBER_DIGITS, NATIONAL_NUMBER_DIGITS,
                            dtype=np.int32)
        values = pa.Array.from_buffers(pa.string(), n, [
            None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(digits))])
        con = duckdb.connect()
        try:
            con.execute("SET threads = 2")
            con.register("numbers", pa.table({"v": values}))
            # The SQL holds the key's pads: it must never reach a log or an error message.
            try:
                out = con.sql(f"SELECT {hmac_sql('v', self._key)} FROM numbers"
                              ).to_arrow_table().column(0).combine_chunks()
            except duckdb.Error:
                raise RuntimeError("pseudonymisation in DuckDB failed") from None
        finally:
            con.close()
        out = out.cast(pa.large_string())
        data = np.frombuffer(out.buffers()[2], np.uint8)
        start = np.frombuffer(out.buffers()[1], np.int64)[out.offset]
        return data[start:start + n * PSEUDONYM_HEX].copy().view(f"S{PSEUDONYM_HEX}")

    def _hmac(self, value: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(value)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()[:PSEUDONYM_HEX].encode("ascii")

    def _add(self, keys: np.ndarray, hexes: np.ndarray) -> None:
        """Add a sorted segment; merge all segments when the small ones grow many or big.

        Merging sorts concatenated sorted runs (timsort: close to linear) and keeps the
        first of equal numbers (two workers may add the same number; its pseudonym is the
        same). Merging rarely keeps its cost low while lookups stay one search per row.
        """
        with self._lock:
            segments = [*self._segments, (keys, hexes)]
            small = sum(len(k) for k, _ in segments[1:])
            if len(segments) > _MERGE_AFTER or small * 8 > len(segments[0][0]):
                all_keys = np.concatenate([k for k, _ in segments])
                order = np.argsort(all_keys, kind="stable")
                merged = all_keys[order]
                keep = np.r_[True, merged[1:] != merged[:-1]]
                all_hexes = np.concatenate([h for _, h in segments])
                segments = [(merged[keep], all_hexes[order[keep]])]
            self._segments = segments
