"""``sdwh ingest``: take deliveries from the landing zone into the raw store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sdwh.config import get_settings
from sdwh.console import console, emit, fail
from sdwh.errors import SdwhError
from sdwh.landing.ingest import ingest_all, landing_folders


def _render(payload: dict[str, Any]) -> None:
    table = Table(title="Ingest", show_lines=False)
    for col in ("delivery", "status", "rows in", "accepted", "quarantined", "note"):
        table.add_column(col, justify="right" if col.startswith(("rows", "acc", "qua")) else "left")
    colours = {"accepted": "green", "superseded": "cyan", "rejected": "red", "skipped": "dim"}
    for o in payload["outcomes"]:
        note = f"{o['rule']}: {o['message']}" if o["status"] == "rejected" else o["message"]
        table.add_row(o["folder"], f"[{colours[o['status']]}]{o['status']}[/]",
                      f"{o['rows_in']:,}", f"{o['rows_accepted']:,}",
                      f"{o['rows_quarantined']:,}", note)
    console.print(table)
    d = payload["deliveries"]
    console.print(
        f"{d['accepted']} accepted, {d['superseded']} stored as superseded, "
        f"{d['rejected']} rejected, {d['skipped']} already known; "
        f"rows {payload['rows_in']:,} in = {payload['rows_accepted']:,} accepted + "
        f"{payload['rows_quarantined']:,} quarantined, in {payload['seconds']:.1f} s.")


def ingest(
    folders: Annotated[list[Path] | None, typer.Argument(
        help="Delivery folders to ingest (default: everything in the landing zone).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Validate deliveries, quarantine bad rows, pseudonymise, store as Parquet.

    With explicit folders the exit code is 1 when any of them is rejected; scanning the
    whole landing zone reports rejections in the summary and exits 0.
    """
    settings = get_settings()
    if folders:
        for f in folders:
            if not f.is_dir():
                raise SdwhError(f"{f} is not a delivery folder.",
                                "Give the folder that holds manifest.json.")
    todo = folders or (landing_folders(settings.landing_dir)
                       if settings.landing_dir.is_dir() else [])
    if not todo:
        raise SdwhError(f"No deliveries found in {settings.landing_dir}.",
                        "Run `sdwh synth` first, or set SDWH_HOME to the data root.")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True,
                  disable=as_json) as bar:
        task = bar.add_task("ingest", total=len(todo))

        def advance(name: str) -> None:
            bar.update(task, advance=1, description=f"ingest {name}")

        summary = ingest_all(settings, todo, advance)
    payload = summary.as_dict()
    emit(payload, as_json, _render)
    if folders and summary.count("rejected"):
        first = next(o for o in summary.outcomes if o.status == "rejected")
        if not as_json:
            fail(first.message, first.hint)
        raise typer.Exit(1)
