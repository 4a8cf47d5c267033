"""``sdwh ingest``: take deliveries from the landing zone into the raw store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sdwh.config import get_settings
from sdwh.console import console, emit, fail
from sdwh.errors import SdwhError
from sdwh.landing.ingest import ingest_all, landing_folders


def _dataset(folder: str) -> str:
    """``rsz__dmfa_employment_lines__2024Q3__r1`` → ``rsz dmfa_employment_lines``."""
    parts = folder.split("__")
    return " ".join(parts[:2]) if len(parts) >= 4 else folder


def _render(payload: dict[str, Any]) -> None:
    """One line per supplier dataset, then every rejected delivery with its reason."""
    per: dict[str, dict[str, int]] = {}
    for o in payload["outcomes"]:
        row = per.setdefault(_dataset(o["folder"]), dict.fromkeys(
            ("deliveries", "new", "rejected", "rows_in", "rows_accepted", "rows_quarantined"), 0))
        row["deliveries"] += 1
        row["new"] += o["status"] in ("accepted", "superseded")
        row["rejected"] += o["status"] == "rejected"
        for k in ("rows_in", "rows_accepted", "rows_quarantined"):
            row[k] += o[k]
    table = Table(title="Ingest")
    table.add_column("supplier dataset")
    for col in ("deliveries", "new", "rejected", "rows in", "accepted", "quarantined"):
        table.add_column(col, justify="right")
    for name, r in sorted(per.items()):
        table.add_row(name, str(r["deliveries"]), str(r["new"]),
                      f"[red]{r['rejected']}[/]" if r["rejected"] else "0",
                      f"{r['rows_in']:,}", f"{r['rows_accepted']:,}", f"{r['rows_quarantined']:,}")
    console.print(table)
    for o in payload["outcomes"]:
        if o["status"] == "rejected":
            console.print(f"[red]rejected[/] {o['folder']}: {escape(o['message'])}",
                          soft_wrap=True, highlight=False)
    d = payload["deliveries"]
    console.print(
        f"{d['accepted']} accepted, {d['superseded']} stored as superseded, "
        f"{d['rejected']} rejected, {d['skipped']} already known; "
        f"rows {payload['rows_in']:,} in = {payload['rows_accepted']:,} accepted + "
        f"{payload['rows_quarantined']:,} quarantined, in {payload['seconds']:.1f} s. "
        "Details: sdwh deliveries --all", soft_wrap=True)


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
    todo = folders or landing_folders(settings.landing_dir)
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
