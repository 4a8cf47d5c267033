"""Supplier timeliness from the delivery register: where is the bottleneck?

Lag is days from the end of the reference period to the moment the supplier sent the
delivery (the first revision counts: it is when data became usable). A delivery is on time
when its lag is within the contract's ``due_days``.
"""

from __future__ import annotations

from statistics import median
from typing import Any


def first_deliveries(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per supplier dataset and period, the earliest non-rejected delivery."""
    first: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        if r["status"] == "rejected":
            continue
        key = (r["supplier"], r["dataset"], r["reference_period"])
        if key not in first or r["sent_at"] < first[key]["sent_at"]:
            first[key] = r
    return list(first.values())


def timeliness(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per supplier dataset: median and worst lag, share on time, rejections."""
    out = []
    usable = first_deliveries(rows)
    for supplier, dataset in sorted({(r["supplier"], r["dataset"]) for r in rows}):
        mine = [r for r in usable if (r["supplier"], r["dataset"]) == (supplier, dataset)]
        every = [r for r in rows if (r["supplier"], r["dataset"]) == (supplier, dataset)]
        lags = [r["lag_days"] for r in mine]
        out.append({
            "supplier": supplier, "dataset": dataset, "periods": len(mine),
            "due_days": every[0]["due_days"],
            "median_lag_days": round(median(lags), 1) if lags else None,
            "worst_lag_days": round(max(lags), 1) if lags else None,
            "share_on_time": round(sum(r["lag_days"] <= r["due_days"] for r in mine) / len(mine),
                                   3) if mine else None,
            "rejected": sum(r["status"] == "rejected" for r in every),
            "revisions": sum(r["revision"] > 1 and r["status"] != "rejected" for r in every),
            "rows_quarantined": sum(r["rows_quarantined"] for r in every),
            "rows_in": sum(r["rows_in"] for r in every if r["status"] != "rejected"),
        })
    return out


def bottleneck(summary: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The supplier dataset with the largest median lag: the pace of the slowest supplier."""
    ranked = [s for s in summary if s["median_lag_days"] is not None]
    return max(ranked, key=lambda s: s["median_lag_days"]) if ranked else None
