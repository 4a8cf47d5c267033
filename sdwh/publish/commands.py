"""``sdwh publish``: write a VOS release (protected indicators, formats, metadata, revisions)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sdwh.config import get_settings
from sdwh.console import console, emit
from sdwh.errors import SdwhError


def _render(payload: dict[str, Any]) -> None:
    table = Table(title=f"Release {payload['release']} (issued {payload['issued']})")
    for col in ("indicator", "cells", "suppressed", "primary", "revised values", "quarters"):
        table.add_column(col, justify="left" if col in ("indicator", "quarters") else "right")
    for name, ind in payload["indicators"].items():
        table.add_row(name, f"{ind['cells']:,}", f"{ind['suppressed_cells']:,}",
                      f"{ind['primary_cells']:,}", f"{ind['revised_values']:,}",
                      " – ".join(ind["quarters"]))
    console.print(table)
    prev = payload["previous_release"] or "none"
    console.print(f"{payload['sdc']['tables']} tables protected, audit "
                  f"{'passed' if payload['sdc']['audit_ok'] else 'FAILED'}; "
                  f"{payload['revisions']} revisions against the previous release ({prev}); "
                  f"{payload['seconds']} s.")
    console.print(f"[dim]{payload['path']}[/]")


def publish(
    release: Annotated[str, typer.Option("--release", help="Reference quarter, e.g. 2025Q4.")],
    issued: Annotated[str | None, typer.Option(
        "--issued", help="Issue date YYYY-MM-DD (default: the release calendar's date).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Publish a VOS release: protect every indicator, write all formats, record revisions."""
    import time

    from sdwh.publish.release import publish_release

    settings = get_settings()
    when = None
    if issued is not None:
        try:
            when = date.fromisoformat(issued)
        except ValueError as err:
            raise SdwhError(f"--issued '{issued}' is not a date.", "Use YYYY-MM-DD.") from err
    t0 = time.perf_counter()
    with Progress(TextColumn("[bold]protecting tables[/]"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, disable=as_json,
                  transient=True) as progress:
        task = progress.add_task("protect", total=None)

        def step(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        payload = publish_release(settings, release, issued=when, progress=step)
    payload["seconds"] = round(time.perf_counter() - t0, 2)
    _audit(settings, payload)
    emit(payload, as_json, _render)


def _audit(settings: Any, payload: dict[str, Any]) -> None:
    """Record who published which release in the audit chain."""
    import getpass

    from sdwh.audit.log import audit_log

    audit_log(settings).append("publish.release", getpass.getuser(), release=payload["release"],
                               previous=payload["previous_release"],
                               revisions=payload["revisions"], path=payload["path"])
