"""Realistic data-quality defects, injected at configurable rates and counted.

Row defects (wrong INSZ check digits, impossible BIS months, unknown REFNIS codes, duplicate
lines) change a few rows of a :data:`Frame`. Delivery defects (a wrong unit, a truncated file)
are chosen per run in :mod:`sdwh.synth.deliveries`. Pre-merger REFNIS codes are applied where
residences are built (:func:`sdwh.synth.tables.residence_codes`).

RSZ revisions (r1 with ~97 % of lines, r2 complete with ~1 % of wages corrected) are not a
defect: suppliers revise, and ``--defects none`` keeps them.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from pydantic import BaseModel, Field

from sdwh.landing.contracts import Contract
from sdwh.synth.frames import Frame, frame_rows, take
from sdwh.synth.numbers import insz_check
from sdwh.synth.streams import stochastic_round


class DefectRates(BaseModel):
    """How often each defect occurs. Row rates are shares of rows; delivery defects are the
    number of deliveries per run affected."""

    insz_check_digit: float = Field(0.0005, ge=0, le=1, description="rows with a wrong INSZ "
                                    "check digit, per dataset")
    bis_month_invalid: float = Field(0.0001, ge=0, le=1, description="rows whose INSZ has an "
                                     "impossible (BIS) month but valid check digits")
    refnis_unknown: float = Field(0.0002, ge=0, le=1, description="rows with a REFNIS column "
                                  "carrying a code that exists in no vintage")
    premerger_refnis: float = Field(0.30, ge=0, le=1, description="people in merged "
                                    "municipalities still sent with their pre-2025 code")
    duplicate_rows: float = Field(0.0005, ge=0, le=1, description="rows sent twice")
    rsz_quarter_in_eur: int = Field(1, ge=0, le=1, description="RSZ quarter in euros, "
                                    "declared in the manifest's units")
    podmi_month_in_keur: int = Field(1, ge=0, le=1, description="POD MI month in thousands "
                                     "of euros, declared")
    rva_month_in_cents_undeclared: int = Field(1, ge=0, le=1, description="RVA month in cents "
                                               "without declaring it (100x too high)")
    truncated_files: int = Field(1, ge=0, le=1, description="RVA file cut mid-line, then "
                                 "re-sent complete as the next revision")

    @classmethod
    def none(cls) -> DefectRates:
        return cls(insz_check_digit=0, bis_month_invalid=0, refnis_unknown=0,
                   premerger_refnis=0, duplicate_rows=0, rsz_quarter_in_eur=0,
                   podmi_month_in_keur=0, rva_month_in_cents_undeclared=0, truncated_files=0)


def _pick(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    k = min(stochastic_round(rng, n * rate), n)
    return np.sort(rng.choice(n, size=k, replace=False)) if k else np.empty(0, np.int64)


def wrong_check_digits(insz: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> None:
    """Replace the check digits by ones that fail both century forms."""
    body = insz[rows] // 100
    good = np.stack([97 - body % 97, 97 - (body + 2_000_000_000) % 97])
    cc = insz[rows] % 100
    for _ in range(4):
        bad = (cc == good[0]) | (cc == good[1])
        cc = np.where(bad, (cc - 1 + rng.integers(1, 97, len(rows))) % 97 + 1, cc)
    cc = np.where((cc == good[0]) | (cc == good[1]), 98, cc)  # 98 is never a check digit
    insz[rows] = body * 100 + cc


def impossible_bis_month(insz: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> None:
    """Set the month to 53..79 (no INSZ or BIS number has it) with valid check digits."""
    body = insz[rows] // 100
    month = rng.integers(53, 80, len(rows))
    body = (body // 10_000_000) * 10_000_000 + month * 100_000 + body % 100_000
    insz[rows] = body * 100 + insz_check(body, np.zeros(len(rows), bool))


def apply_row_defects(frame: Frame, contract: Contract, rates: DefectRates,
                      rng: np.random.Generator, counts: Counter[str]) -> Frame:
    """Inject the row defects into a copy of ``frame`` and count them in ``counts``."""
    n = frame_rows(frame)
    frame = dict(frame)
    for col in contract.columns:
        value = frame[col.name]
        if col.type == "insz" and col.pseudonym == "person_id":
            value = frame[col.name] = value.copy()
            rows = _pick(rng, n, rates.insz_check_digit)
            wrong_check_digits(value, rows, rng)
            counts["insz_check_digit"] += len(rows)
            rows = _pick(rng, n, rates.bis_month_invalid)
            impossible_bis_month(value, rows, rng)
            counts["bis_month_invalid"] += len(rows)
        elif col.type == "refnis":
            value = frame[col.name] = value.copy()
            rows = _pick(rng, n, rates.refnis_unknown)
            value[rows] = 99_000 + rng.integers(0, 1000, len(rows))
            counts["refnis_unknown"] += len(rows)
    rows = _pick(rng, n, rates.duplicate_rows)
    if len(rows):
        counts["duplicate_rows"] += len(rows)
        frame = take(frame, np.sort(np.concatenate([np.arange(n), rows]), kind="stable"))
    return frame
