"""``sdwh synth``: write synthetic supplier deliveries into the landing zone."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sdwh.config import get_settings
from sdwh.console import console, emit
from sdwh.errors import SdwhError
from sdwh.synth.defects import DefectRates
from sdwh.synth.generate import check_arguments, deliveries_per_supplier, generate


def synth(
    persons: Annotated[int, typer.Option("--persons", help="Persons resident on 1/1/2025.")
                       ] = 100_000,
    first_quarter: Annotated[str, typer.Option("--from", help="First quarter, e.g. 2023Q1.")
                             ] = "2023Q1",
    last_quarter: Annotated[str, typer.Option("--to", help="Last quarter, e.g. 2025Q4.")
                            ] = "2025Q4",
    seed: Annotated[int, typer.Option("--seed", help="Random seed; same seed, same files.")] = 1,
    defects: Annotated[str, typer.Option("--defects", help="default or none.")] = "default",
    out: Annotated[Path | None, typer.Option(
        "--out", help="Landing dir (default $SDWH_HOME/landing).")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print one JSON object instead of a report.")] = False,
) -> None:
    """Generate a synthetic Flemish population and its suppliers' deliveries."""
    if defects not in ("default", "none"):
        raise SdwhError(f"--defects must be 'default' or 'none', not {defects!r}.",
                        "Use --defects none for clean data.")
    check_arguments(persons, first_quarter, last_quarter)
    rates = DefectRates() if defects == "default" else DefectRates.none()
    out_dir = out or get_settings().landing_dir
    if as_json:
        summary = generate(out_dir, persons, first_quarter, last_quarter, seed, rates)
    else:
        expected = deliveries_per_supplier(first_quarter, last_quarter)
        with Progress(TextColumn("{task.description:>8}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console, transient=False) as bars:
            tasks = {s: bars.add_task(s, total=n) for s, n in expected.items()}
            summary = generate(out_dir, persons, first_quarter, last_quarter, seed, rates,
                               progress=lambda supplier, _folder: bars.advance(tasks[supplier]))
    payload = summary.model_dump()
    emit(payload, as_json, _render)


def _render(s: dict[str, Any]) -> None:
    table = Table(title=f"Synthetic deliveries in {s['out_dir']}")
    table.add_column("dataset")
    table.add_column("rows", justify="right")
    for key, rows in s["rows"].items():
        table.add_row(key, f"{rows:,}")
    console.print(table)
    defects = ", ".join(f"{k} {v:,}" for k, v in s["defects"].items() if v) or "none"
    console.print(f"{s['deliveries_written']} deliveries written, {s['deliveries_unchanged']} "
                  f"already there unchanged; defects: {defects}; {s['seconds']} s.")
