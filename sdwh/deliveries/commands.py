"""``sdwh deliveries``: the delivery register and supplier timeliness."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from sdwh.config import get_settings
from sdwh.console import console, emit
from sdwh.deliveries import register
from sdwh.deliveries.timeliness import bottleneck, timeliness
from sdwh.errors import SdwhError


def _render(payload: dict[str, Any]) -> None:
    table = Table(title="Supplier timeliness (lag = days from period end to sending)")
    for col in ("supplier", "dataset", "periods", "due", "median lag", "worst lag", "on time",
                "rejected", "revisions", "quarantined"):
        table.add_column(col, justify="left" if col in ("supplier", "dataset") else "right")
    for s in payload["timeliness"]:
        on_time = s["share_on_time"]
        colour = "green" if on_time is not None and on_time >= 0.9 else "yellow"
        table.add_row(s["supplier"], s["dataset"], str(s["periods"]), str(s["due_days"]),
                      f"{s['median_lag_days']}", f"{s['worst_lag_days']}",
                      f"[{colour}]{on_time:.0%}[/]" if on_time is not None else "-",
                      str(s["rejected"]), str(s["revisions"]), f"{s['rows_quarantined']:,}")
    console.print(table)
    if payload["bottleneck"]:
        b = payload["bottleneck"]
        console.print(f"Bottleneck: [bold]{b['supplier']} {b['dataset']}[/] "
                      f"(median lag {b['median_lag_days']} days).")
    counts = payload["counts"]
    console.print(f"{counts['accepted']} accepted, {counts['superseded']} superseded, "
                  f"{counts['rejected']} rejected deliveries in the register.")


def deliveries(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    all_rows: Annotated[bool, typer.Option("--all", help="List every delivery too.")] = False,
) -> None:
    """Show every delivery's fate and each supplier's timeliness."""
    settings = get_settings()
    if not settings.register_path.exists():
        raise SdwhError(f"No delivery register at {settings.register_path}.",
                        "Run `sdwh ingest` first (or set SDWH_HOME).")
    with register.open_register(settings.register_path) as reg:
        rows = register.all_deliveries(reg)
        reasons = register.reasons_for(reg)
    summary = timeliness(rows)
    payload = {
        "counts": {s: sum(r["status"] == s for r in rows)
                   for s in ("accepted", "superseded", "rejected")},
        "timeliness": summary,
        "bottleneck": bottleneck(summary),
        "quarantine_reasons": reasons,
        "deliveries": rows if (all_rows or as_json) else [],
    }
    emit(payload, as_json, _render)
    if all_rows and not as_json:
        table = Table(title="Deliveries")
        for col in ("delivery", "period", "rev", "status", "lag", "in", "quarantined", "rule"):
            table.add_column(col)
        for r in rows:
            table.add_row(f"{r['supplier']} {r['dataset']}", r["reference_period"],
                          str(r["revision"]), r["status"], str(r["lag_days"]),
                          f"{r['rows_in']:,}", f"{r['rows_quarantined']:,}",
                          r["reject_rule"] or "")
        console.print(table)
