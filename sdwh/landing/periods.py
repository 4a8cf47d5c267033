"""Reference periods: ``2024`` (year), ``2024Q3`` (quarter), ``2024-07`` (month)."""

from __future__ import annotations

import re
from datetime import date, timedelta

_PATTERNS = {
    "year": re.compile(r"^(\d{4})$"),
    "quarter": re.compile(r"^(\d{4})Q([1-4])$"),
    "month": re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$"),
}


def is_period(value: str, granularity: str) -> bool:
    return bool(_PATTERNS[granularity].match(value))


def period_end(value: str, granularity: str) -> date:
    """The last day a period covers; a year snapshot is dated 1 January (register practice)."""
    m = _PATTERNS[granularity].match(value)
    if not m:
        raise ValueError(f"{value!r} is not a {granularity}")
    year = int(m.group(1))
    if granularity == "year":
        return date(year, 1, 1)
    last_month = int(m.group(2)) * 3 if granularity == "quarter" else int(m.group(2))
    first_of_next = date(year + last_month // 12, last_month % 12 + 1, 1)
    return first_of_next - timedelta(days=1)


def period_year(value: str) -> int:
    return int(value[:4])


def quarter_range(start: str, end: str) -> list[str]:
    """Quarters from ``start`` to ``end`` inclusive, e.g. 2023Q1..2025Q4."""
    for q in (start, end):
        if not is_period(q, "quarter"):
            raise ValueError(f"{q!r} is not a quarter like 2024Q3")
    y, n = int(start[:4]), int(start[5])
    out = []
    while (y, n) <= (int(end[:4]), int(end[5])):
        out.append(f"{y}Q{n}")
        y, n = (y + 1, 1) if n == 4 else (y, n + 1)
    return out


def months_of_quarter(quarter: str) -> list[str]:
    y, n = quarter[:4], int(quarter[5])
    return [f"{y}-{m:02d}" for m in range(3 * n - 2, 3 * n + 1)]
