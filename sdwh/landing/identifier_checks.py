"""The identifier rules (INSZ, KBO, RSZ employer number) evaluated with numpy.

These three rules are mostly substring casts and mod-97 arithmetic, which DuckDB evaluates
string by string: they were over half of the record-rule time of a DmfA delivery. Here a
column becomes a matrix of digits and the rules run as array arithmetic. Each function is the
twin of the SQL rule of the same name in :mod:`sdwh.landing.rules` (tests check them against
each other) and gives, for each non-empty value, the reason code or null. Empty values are
the caller's (``missing_value``).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from sdwh.landing.contracts import Contract

#: Column types checked here; :func:`sdwh.landing.rules.column_rule` reads their result.
CHECKED_TYPES = ("insz", "kbo", "rsz_employer")


def check_column(name: str) -> str:
    """Name of the column holding the identifier rule's result for column ``name``."""
    return f"_check_{name}"


def _digits(values: pa.Array, width: int) -> tuple[np.ndarray, np.ndarray]:
    """An (n, width) matrix of the digits of the values that are exactly ``width`` ASCII
    digits, and the mask of those values (other rows of the matrix are zeros)."""
    n = len(values)
    values = values.cast(pa.large_string())
    offsets = np.frombuffer(values.buffers()[1], np.int64)[values.offset:values.offset + n + 1]
    data = np.frombuffer(values.buffers()[2], np.uint8) if n else np.empty(0, np.uint8)
    lengths = np.diff(offsets)
    if values.null_count:
        lengths = np.where(values.is_null().to_numpy(zero_copy_only=False), -1, lengths)
    sized = lengths == width
    if sized.all():  # the usual case: one reshape, no gather
        matrix = data[offsets[0]:offsets[-1]].reshape(n, width).astype(np.int16) - 48
    else:
        matrix = np.zeros((n, width), np.int16)
        starts = offsets[:-1][sized]
        matrix[sized] = data[starts[:, None] + np.arange(width)].astype(np.int16) - 48
    plain = sized & np.all((matrix >= 0) & (matrix <= 9), axis=1)
    matrix[~plain] = 0
    return matrix, plain


def _number(matrix: np.ndarray, first: int, last: int) -> np.ndarray:
    """The number written by digits ``first..last`` (1-based, inclusive, like SQL substr)."""
    number = np.zeros(len(matrix), np.int64)
    for k in range(first - 1, last):
        number = number * 10 + matrix[:, k]
    return number


def _reasons(codes: np.ndarray, labels: tuple[str, ...]) -> pa.Array:
    """Codes 0 (no fault) .. len(labels) as a string array with nulls for 0."""
    dictionary = pa.array([None, *labels], pa.string())
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int8)),
                                          dictionary).dictionary_decode()


def insz_reasons(values: pa.Array, reference_year: int) -> pa.Array:
    """Twin of :func:`sdwh.landing.rules.insz_rule`."""
    m, plain = _digits(values, 11)
    body, cc = _number(m, 1, 9), _number(m, 10, 11)
    yy, day, month = _number(m, 1, 2), _number(m, 5, 6), _number(m, 3, 4)
    born_2000 = (2000 + yy <= reference_year) & (97 - (2_000_000_000 + body) % 97 == cc)
    bad_check = (97 - body % 97 != cc) & ~born_2000
    month_ok = (month <= 12) | ((month >= 20) & (month <= 32)) | ((month >= 40) & (month <= 52))
    codes = np.select([~plain, bad_check, day > 31, ~month_ok], [1, 2, 3, 4], 0)
    return _reasons(codes, ("insz_malformed", "insz_check_digit", "insz_date_invalid",
                            "bis_month_invalid"))


def kbo_reasons(values: pa.Array) -> pa.Array:
    """Twin of :func:`sdwh.landing.rules.kbo_rule`."""
    m, plain = _digits(values, 10)
    plain &= m[:, 0] <= 1
    bad = ~plain | (97 - _number(m, 1, 8) % 97 != _number(m, 9, 10))
    return _reasons(np.where(bad, 1, 0), ("kbo_invalid",))


def rsz_employer_reasons(values: pa.Array) -> pa.Array:
    """Twin of :func:`sdwh.landing.rules.rsz_employer_rule`."""
    m, plain = _digits(values, 9)
    whole = _number(m, 1, 9)
    remainder = 96 - (_number(m, 1, 7) * 100) % 97
    expected = np.where(remainder == 0, 97, remainder)
    bad = ~plain | (whole < 100006) | (whole > 199999934) | (expected != _number(m, 8, 9))
    return _reasons(np.where(bad, 1, 0), ("rsz_employer_invalid",))


def with_identifier_checks(table: pa.Table, contract: Contract, period: str) -> pa.Table:
    """``table`` plus a :func:`check_column` for every identifier column of the contract."""
    for col in contract.columns:
        if col.type in CHECKED_TYPES:
            values = table[col.name].combine_chunks()
            match col.type:
                case "insz":
                    reasons = insz_reasons(values, int(period[:4]))
                case "kbo":
                    reasons = kbo_reasons(values)
                case _:
                    reasons = rsz_employer_reasons(values)
            table = table.append_column(check_column(col.name), reasons)
    return table
