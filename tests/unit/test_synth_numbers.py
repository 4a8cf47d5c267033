"""The vectorised identifier twins in sdwh.synth.numbers agree with sdwh.identifiers and
python-stdnum, including the 2000+ prefix, BIS offsets and the check-digit edge cases."""

from __future__ import annotations

from datetime import date

import numpy as np
from stdnum.be import bis, nn, vat

from sdwh.identifiers import (
    check_insz,
    is_valid_rsz_employer,
    make_insz,
    make_kbo,
    make_rsz_employer,
)
from sdwh.synth.defects import impossible_bis_month, wrong_check_digits
from sdwh.synth.numbers import insz_numbers, insz_valid, kbo_numbers, rsz_numbers

RNG = np.random.default_rng(7)
N = 3000


def _births() -> tuple[list[date], np.ndarray, np.ndarray, np.ndarray]:
    days = RNG.integers(-25_000, 20_000, N)  # 1901 .. 2024
    births = [date.fromordinal(date(1970, 1, 1).toordinal() + int(d)) for d in days]
    y = np.array([b.year for b in births])
    m = np.array([b.month for b in births])
    d = np.array([b.day for b in births])
    return births, y, m, d


def test_insz_twin_matches_reference_and_stdnum_for_both_centuries() -> None:
    births, y, m, d = _births()
    serial = RNG.integers(1, 999, N)
    got = insz_numbers(y, m, d, serial)
    for b, s, number in zip(births, serial, got, strict=True):
        text = f"{number:011d}"
        assert text == make_insz(b, int(s))
        assert nn.is_valid(text) or b.year > 2024
    assert (y >= 2000).any() and (y < 2000).any()


def test_bis_twin_matches_reference_and_stdnum() -> None:
    births, y, m, d = _births()
    serial = RNG.integers(1, 999, N)
    offset = np.where(RNG.random(N) < 0.5, 20, 40)
    got = insz_numbers(y, m, d, serial, offset)
    for b, s, o, number in zip(births, serial, offset, got, strict=True):
        text = f"{number:011d}"
        assert text == make_insz(b, int(s), int(o))
        assert check_insz(text).kind == "bis"
        assert bis.is_valid(text)


def test_kbo_twin_matches_reference_and_stdnum_including_check_97() -> None:
    seq = np.r_[RNG.integers(0, 20_000_000, N), 4287594]  # 04287594 mod 97 == 0 -> 97
    for s, number in zip(seq, kbo_numbers(seq), strict=True):
        assert f"{number:010d}" == make_kbo(int(s))
        assert vat.is_valid(f"{number:010d}")
    assert kbo_numbers(np.array([4287594]))[0] % 100 == 97


def test_rsz_twin_matches_reference_at_domain_bounds() -> None:
    radix = np.r_[RNG.integers(1000, 2_000_000, N), 1000, 1999999, 1234567]
    for r, number in zip(radix, rsz_numbers(radix), strict=True):
        assert f"{number:09d}" == make_rsz_employer(int(r))
        assert is_valid_rsz_employer(f"{number:09d}")
    assert rsz_numbers(np.array([1000, 1999999, 1234567])).tolist() == [
        100006, 199999934, 123456749]


def test_wrong_check_digit_defect_fails_only_the_checksum_rule() -> None:
    _, y, m, d = _births()
    numbers = insz_numbers(y, m, d, RNG.integers(1, 999, N))
    rows = np.arange(N)
    wrong_check_digits(numbers, rows, RNG)
    assert not insz_valid(numbers).any()
    assert {check_insz(f"{x:011d}").rule for x in numbers} == {"insz_check_digit"}


def test_impossible_bis_month_defect_keeps_valid_check_digits() -> None:
    _, y, m, d = _births()
    numbers = insz_numbers(y, m, d, RNG.integers(1, 999, N))
    impossible_bis_month(numbers, np.arange(N), RNG)
    assert insz_valid(numbers).all()
    assert {check_insz(f"{x:011d}").rule for x in numbers} == {"bis_month_invalid"}
