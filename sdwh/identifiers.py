"""Belgian identifiers: INSZ/NISS and BIS numbers, KBO enterprise and RSZ employer numbers.

Pure functions (no I/O). Rules from ``reference/domain/REPORT.md`` §2, checked in the tests
against python-stdnum. The landing zone validates whole columns with the SQL twins in
:mod:`sdwh.ttp.sql`; these Python versions are the reference the SQL is tested against.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


def insz_check_digits(body: str, born_2000_or_later: bool) -> int:
    """Check digits of a 9-digit INSZ body ``YYMMDDSSS`` (``2`` prefixed from 2000 on)."""
    number = int(("2" if born_2000_or_later else "") + body)
    return 97 - number % 97


def make_insz(birth: date, serial: int, bis_offset: int = 0) -> str:
    """An INSZ (or with ``bis_offset`` 20/40 a BIS number) for a birth date and daily serial.

    Odd serials are men, even serials women (the register's convention).
    """
    body = f"{birth.year % 100:02d}{birth.month + bis_offset:02d}{birth.day:02d}{serial:03d}"
    return body + f"{insz_check_digits(body, birth.year >= 2000):02d}"


@dataclass(frozen=True)
class InszCheck:
    """Outcome of checking one national number: ``rule`` is empty when it is valid."""

    rule: str
    kind: str = ""  # "rr" (national register) or "bis"

    @property
    def valid(self) -> bool:
        return not self.rule


def check_insz(value: str, reference_year: int | None = None) -> InszCheck:
    """Validate an INSZ or BIS number: 11 digits, mod-97, month range.

    The ``2``-prefixed (born ≥ 2000) form only counts when 2000 + YY is not after
    ``reference_year`` (default: this year), as python-stdnum does: nobody in a delivery
    was born after its reference period.
    """
    if len(value) != 11 or not value.isdigit():
        return InszCheck("insz_malformed")
    body, cc = value[:9], int(value[9:])
    latest = reference_year or date.today().year
    forms = [insz_check_digits(body, False)]
    if 2000 + int(value[:2]) <= latest:
        forms.append(insz_check_digits(body, True))
    if cc not in forms:
        return InszCheck("insz_check_digit")
    month, day = int(value[2:4]), int(value[4:6])
    if day > 31:
        return InszCheck("insz_date_invalid")
    if month <= 12:
        return InszCheck("", "rr")
    if 20 <= month <= 32 or 40 <= month <= 52:
        return InszCheck("", "bis")
    return InszCheck("bis_month_invalid")


def kbo_check_digits(first8: str) -> int:
    return 97 - int(first8) % 97


def make_kbo(sequence: int) -> str:
    """A valid 10-digit enterprise number (starting 0 or 1) from a sequence number < 2e7."""
    first8 = f"{sequence:08d}"
    return first8 + f"{kbo_check_digits(first8):02d}"


def is_valid_kbo(value: str) -> bool:
    return (len(value) == 10 and value.isdigit() and value[0] in "01"
            and int(value[8:]) == kbo_check_digits(value[:8]))


def rsz_check_digits(radix: int) -> int:
    """NSSO check digits of a 7-digit employer radix (96 − radix·100 mod 97; 0 → 97)."""
    c = 96 - (radix * 100) % 97
    return 97 if c == 0 else c


def make_rsz_employer(radix: int) -> str:
    """A definitive 9-digit RSZ employer number from a radix in [1000, 1999999]."""
    return f"{radix:07d}{rsz_check_digits(radix):02d}"


def is_valid_rsz_employer(value: str) -> bool:
    if len(value) != 9 or not value.isdigit():
        return False
    number = int(value)
    return 100006 <= number <= 199999934 and number % 100 == rsz_check_digits(number // 100)
