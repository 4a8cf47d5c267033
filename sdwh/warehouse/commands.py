"""`sdwh build`: run the dbt project over the raw store, with progress and a summary."""

from __future__ import annotations

from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sdwh.config import get_settings
from sdwh.console import console, emit
from sdwh.errors import SdwhError
from sdwh.warehouse.build import build_warehouse

JSON_OPTION = typer.Option(False, "--json", help="Print one JSON object instead of a report.")


def _render(payload: dict[str, Any]) -> None:
    table = Table(title=f"Warehouse built in {payload['seconds']} s", show_edge=False)
    for col in ("layer", "rows", "seconds"):
        table.add_column(col, justify="right" if col != "layer" else "left")
    for layer in ("seeds", "raw", "integrated", "thematic", "publication"):
        table.add_row(layer, f"{payload['rows_per_layer'].get(layer, 0):,}",
                      f"{payload['seconds_per_layer'].get(layer, 0.0):.1f}")
    console.print(table)
    t = payload["tests"]
    console.print(f"tests: {t['passed']} passed, {t['failed']} failed, {t['warned']} warned, "
                  f"{t['errored']} errored · mode: {payload['mode']}"
                  + (f" from {payload['refresh_from']}" if payload.get("refresh_from") else ""))
    ind = payload.get("indicators") or {}
    if ind:
        console.print(f"{ind['quarter']}: employment rate 20-64 {ind['employment_rate_20_64_pct']}%"
                      f" of {ind['population_20_64']:,} residents; NWWZ {ind['nwwz']:,}")
    console.print(f"[dim]{payload['database']}[/]")


def build(
    full_refresh: bool = typer.Option(False, "--full-refresh",
                                      help="Rebuild every quarter instead of only changed ones."),
    select: str = typer.Option(None, "--select", help="dbt node selection (default: all)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Build the warehouse: dbt build over the raw store (seeds, models, tests)."""
    settings = get_settings()
    with Progress(TextColumn("[bold]dbt build[/]"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console, disable=as_json, transient=True) as progress:
        task = progress.add_task("starting", total=None)

        def on_event(kind: str, unique_id: str) -> None:
            if kind == "NodeStart":
                progress.update(task, description=unique_id.split(".", 2)[-1])
            else:
                progress.advance(task)

        payload = build_warehouse(settings, full_refresh=full_refresh, select=select,
                                  on_event=on_event, on_total=lambda n: progress.update(
                                      task, total=n))
    emit(payload, as_json, _render)
    if payload["failures"]:
        first = payload["failures"][0]
        raise SdwhError(f"{len(payload['failures'])} dbt node(s) failed, first {first['node']}: "
                        f"{first['message']}",
                        "Read logs/dbt.log; fix the data or the model and run `sdwh build` again.")
