"""Dates as int32 day numbers (days since 1970-01-01) and their parts, for whole arrays."""

from __future__ import annotations

from datetime import date

import numpy as np

EPOCH = date(1970, 1, 1)
NEVER = np.int32(2**31 - 1)


def day_number(d: date) -> int:
    return (d - EPOCH).days


def from_day_number(n: int) -> date:
    return date.fromordinal(EPOCH.toordinal() + int(n))


def parts(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month and day of each day number."""
    d64 = days.astype("datetime64[D]")
    years = d64.astype("datetime64[Y]")
    months = d64.astype("datetime64[M]")
    y = years.astype(np.int64) + 1970
    m = (months - years.astype("datetime64[M]")).astype(np.int64) + 1
    dd = (d64 - months.astype("datetime64[D]")).astype(np.int64) + 1
    return y.astype(np.int32), m.astype(np.int32), dd.astype(np.int32)


def age_on(birth_y: np.ndarray, birth_md: np.ndarray, on: date) -> np.ndarray:
    """Completed years on ``on``; ``birth_md`` is month*100 + day."""
    age = on.year - birth_y - (birth_md > on.month * 100 + on.day)
    return age.astype(np.int16)
