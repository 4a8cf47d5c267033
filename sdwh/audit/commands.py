"""``sdwh audit verify|show``: check the audit chain and read it."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from sdwh.audit.log import audit_log
from sdwh.config import get_settings
from sdwh.console import console, emit
from sdwh.errors import SdwhError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Check and read the hash-chained audit log.")

JSON_OPTION = typer.Option("--json", help="Print one JSON object.")


@app.command()
def verify(as_json: Annotated[bool, JSON_OPTION] = False) -> None:
    """Walk the hash chain; exit 1 if any record was changed, inserted or removed."""
    log = audit_log(get_settings())
    result = log.verify()
    payload = {"path": str(log.path), **result.as_dict()}

    def render(p: dict[str, Any]) -> None:
        if p["ok"]:
            console.print(f"[green]audit log intact[/]: {p['events']:,} events, "
                          f"head {p['head_hash'][:16]}… ({p['path']})")
    emit(payload, as_json, render)
    if not result.ok:
        if as_json:
            raise typer.Exit(1)
        raise SdwhError(f"the audit log {log.path} is broken at record {result.first_bad_seq}: "
                        f"{result.reason}",
                        "Treat this as a security incident: keep the file, compare it with "
                        "the last anchored head hash and a backup (docs/operations.md).")


@app.command()
def show(
    event: Annotated[str | None, typer.Option(help="Only events starting with this.")] = None,
    actor: Annotated[str | None, typer.Option(help="Only events by this actor.")] = None,
    limit: Annotated[int, typer.Option(help="Show the last N matching events.")] = 50,
    as_json: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """List the latest audit events, newest last."""
    log = audit_log(get_settings())
    rows = [r for r in log.events(event) if actor is None or r["actor"] == actor]
    payload = {"path": str(log.path), "matching": len(rows), "events": rows[-limit:]}

    def render(p: dict[str, Any]) -> None:
        table = Table(title=f"Audit events ({p['matching']:,} matching, last {limit} shown)")
        for col in ("seq", "at", "event", "actor", "details"):
            table.add_column(col)
        for r in p["events"]:
            table.add_row(str(r["seq"]), r["at"][:19], r["event"], r["actor"],
                          ", ".join(f"{k}={v}" for k, v in r["details"].items())[:80])
        console.print(table)
    emit(payload, as_json, render)
