"""Vectorised twins of :mod:`sdwh.identifiers`: INSZ/BIS, KBO and RSZ numbers as int64 arrays.

The reference functions work on one string at a time; generating millions of numbers needs the
same mod-97 arithmetic on whole arrays. The tests check these against the reference functions
and python-stdnum.
"""

from __future__ import annotations

import numpy as np

I64 = np.int64


def insz_body(year: np.ndarray, month: np.ndarray, day: np.ndarray,
              serial: np.ndarray) -> np.ndarray:
    """The 9-digit ``YYMMDDSSS`` body; ``month`` already carries any BIS offset (+20/+40)."""
    return (((year.astype(I64) % 100) * 100 + month) * 100 + day) * 1000 + serial.astype(I64)


def insz_check(body: np.ndarray, born_2000_or_later: np.ndarray) -> np.ndarray:
    """Check digits 97 - N mod 97, with N prefixed by ``2`` for births from 2000 on."""
    n = body.astype(I64) + np.where(born_2000_or_later, 2_000_000_000, 0)
    return 97 - n % 97


def insz_numbers(year: np.ndarray, month: np.ndarray, day: np.ndarray, serial: np.ndarray,
                 bis_offset: np.ndarray | int = 0) -> np.ndarray:
    """Complete 11-digit INSZ (or BIS) numbers as int64."""
    body = insz_body(year, month + bis_offset, day, serial)
    return body * 100 + insz_check(body, year >= 2000)


def insz_valid(numbers: np.ndarray) -> np.ndarray:
    """Mod-97 holds in either century form (month and day are not checked)."""
    body, cc = numbers // 100, numbers % 100
    return (cc == 97 - body % 97) | (cc == 97 - (body + 2_000_000_000) % 97)


def kbo_numbers(sequence: np.ndarray) -> np.ndarray:
    """10-digit enterprise numbers (first digit 0 or 1) from sequences below 2e7."""
    first8 = sequence.astype(I64)
    return first8 * 100 + (97 - first8 % 97)


def rsz_numbers(radix: np.ndarray) -> np.ndarray:
    """9-digit RSZ employer numbers from 7-digit radices (check 96 - radix*100 mod 97; 0 -> 97)."""
    r = radix.astype(I64)
    c = 96 - (r * 100) % 97
    return r * 100 + np.where(c == 0, 97, c)
