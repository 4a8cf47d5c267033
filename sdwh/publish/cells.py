"""From protected model rows to the tidy published table (one row per cell × measure).

Pure: takes the model's rows, the suppression outcome and the previous release's values, and
returns the long table with its flags. Rates are rounded to one decimal, as published.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sdwh.publish.indicators import Indicator

RATE_DECIMALS = 1
PROVISIONAL_QUARTERS = 4  # the last four quarters of a release may still be revised


def quarter_index(quarter: str) -> int:
    """'2025Q4' → a number that orders quarters (year × 4 + quarter − 1)."""
    return int(quarter[:4]) * 4 + int(quarter[5]) - 1


def is_provisional(quarter: str, release: str) -> bool:
    """Provisional when within the last PROVISIONAL_QUARTERS quarters of the release."""
    return quarter_index(release) - quarter_index(quarter) < PROVISIONAL_QUARTERS


def key_columns(ind: Indicator) -> list[str]:
    return ["quarter", *[d.column for d in ind.dimensions]]


def tidy(ind: Indicator, rows: pd.DataFrame, suppressed: np.ndarray, primary: np.ndarray,
         release: str) -> pd.DataFrame:
    """Long table: keys, measure, value (None when suppressed or undefined), flags."""
    keys = key_columns(ind)
    counts = {m.id: rows[m.column].to_numpy(dtype=float) for m in ind.measures if m.column}
    parts = []
    for m in ind.measures:
        if m.is_rate:
            num, den = counts[m.numerator], counts[m.denominator]
            with np.errstate(divide="ignore", invalid="ignore"):
                value = np.where(den > 0, np.round(100.0 * num / den, RATE_DECIMALS), np.nan)
        else:
            value = counts[m.id]
        frame = rows[keys].copy()
        frame["measure"] = m.id
        frame["unit"] = m.unit
        frame["value"] = np.where(suppressed, np.nan, value)
        frame["suppressed"] = suppressed
        frame["confidentiality"] = np.where(primary, "C", np.where(suppressed, "D", "F"))
        frame["not_applicable"] = np.isnan(value) & ~suppressed
        parts.append(frame)
    out = pd.concat(parts, ignore_index=True)
    out["provisional"] = [is_provisional(q, release) for q in out["quarter"]]
    out.insert(0, "indicator", ind.id)
    order = ["measure", *keys]
    return out.sort_values(order, kind="stable").reset_index(drop=True)


def mark_revisions(current: pd.DataFrame, previous: pd.DataFrame | None,
                   keys: list[str]) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Flag values that differ from the previous release; list every change.

    A revision is a published value that changed, or a cell that moved between published and
    suppressed. Cells new in this release (a new quarter) are not revisions.
    """
    current = current.copy()
    current["revised"] = False
    if previous is None or previous.empty:
        return current, []
    on = [*keys, "measure"]
    prev = previous[[*on, "value", "suppressed"]].rename(
        columns={"value": "previous_value", "suppressed": "previous_suppressed"})
    prev = prev.astype({k: str for k in on})
    cur = current.astype({k: str for k in on})
    merged = cur.merge(prev, on=on, how="left", indicator=True)
    both = (merged["_merge"] == "both").to_numpy()
    v, pv = merged["value"].to_numpy(dtype=float), merged["previous_value"].to_numpy(dtype=float)
    changed_value = both & ~np.isnan(v) & ~np.isnan(pv) & ~np.isclose(v, pv, rtol=0, atol=1e-9)
    changed_status = both & (merged["suppressed"].to_numpy(dtype=bool)
                             != merged["previous_suppressed"].fillna(False).to_numpy(dtype=bool))
    revised = changed_value | changed_status
    current["revised"] = revised
    changes = []
    for i in np.flatnonzero(revised):
        row = merged.iloc[i]
        changes.append({
            **{k: row[k] for k in on},
            "previous_value": None if np.isnan(pv[i]) else float(pv[i]),
            "value": None if np.isnan(v[i]) else float(v[i]),
            "kind": "value" if changed_value[i] else (
                "now_suppressed" if row["suppressed"] else "now_published"),
        })
    return current, changes


def flags(row_suppressed: bool, provisional: bool, revised: bool) -> str:
    """Eurostat-style flag letters: c confidential, p provisional, r revised."""
    return ("c" if row_suppressed else "") + ("p" if provisional else "") + (
        "r" if revised else "")
