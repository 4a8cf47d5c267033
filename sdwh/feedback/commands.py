"""``sdwh feedback``: report data errors, list the register, close reports, serve the form."""

from __future__ import annotations

import getpass
from typing import Annotated, Any

import typer

from sdwh.config import get_settings
from sdwh.console import console, emit
from sdwh.feedback import register

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Report data errors and keep the error register per dataset.")
JSON = typer.Option("--json", help="Print one JSON object.")


def _audit(event: str, **details: Any) -> None:
    from sdwh.audit.log import audit_log

    audit_log(get_settings()).append(event, getpass.getuser(), **details)


@app.command("report")
def report(dataset: Annotated[str, typer.Option(help="Published dataset, e.g. nwwz.")],
           description: Annotated[str, typer.Option(help="What is wrong.")],
           variable: Annotated[str | None, typer.Option(help="Variable or measure.")] = None,
           quarter: Annotated[str | None, typer.Option(help="Quarter, e.g. 2025Q3.")] = None,
           reporter: Annotated[str | None, typer.Option(help="Contact (optional).")] = None,
           as_json: Annotated[bool, JSON] = False) -> None:
    """Report an error in a published dataset or variable."""
    with register.open_register(get_settings().root) as con:
        rec = register.report(con, dataset, description, variable, quarter, reporter)
    _audit("feedback.reported", report=rec["id"], dataset=dataset)
    emit(rec, as_json, lambda r: console.print(f"Report {r['id']} on {r['dataset']} stored."))


@app.command("list")
def list_(dataset: Annotated[str | None, typer.Option(help="Only this dataset.")] = None,
          as_json: Annotated[bool, JSON] = False) -> None:
    """The error register: reports per dataset and their state."""
    with register.open_register(get_settings().root) as con:
        payload = {"per_dataset": register.per_dataset(con),
                   "reports": register.listing(con, dataset)}

    def render(p: dict[str, Any]) -> None:
        for name, n in p["per_dataset"].items():
            console.print(f"{name}: {n['open']} open, {n['fixed']} fixed, {n['rejected']} "
                          "rejected")
        for r in p["reports"]:
            console.print(f"  #{r['id']} [{r['status']}] {r['dataset']} {r['variable'] or ''} "
                          f"{r['quarter'] or ''}: {r['description']}"
                          + (f" → fixed in {r['fixed_in']}" if r["fixed_in"] else ""))
    emit(payload, as_json, render)


@app.command("fix")
def fix(report_id: Annotated[int, typer.Argument(help="Report number.")],
        release: Annotated[str, typer.Option(help="Release whose revisions corrected it.")],
        note: Annotated[str, typer.Option(help="What was corrected.")] = "",
        as_json: Annotated[bool, JSON] = False) -> None:
    """Close a report as fixed, linked to the release that revised the data."""
    settings = get_settings()
    with register.open_register(settings.root) as con:
        rec = register.close(con, report_id, "fixed", note, release, settings.root / "releases")
    _audit("feedback.fixed", report=report_id, release=release)
    emit(rec, as_json, lambda r: console.print(f"Report {r['id']} fixed in {r['fixed_in']}."))


@app.command("reject")
def reject(report_id: Annotated[int, typer.Argument(help="Report number.")],
           note: Annotated[str, typer.Option(help="Why it is not an error.")],
           as_json: Annotated[bool, JSON] = False) -> None:
    """Close a report that is not an error, with the reason."""
    settings = get_settings()
    with register.open_register(settings.root) as con:
        rec = register.close(con, report_id, "rejected", note, None, settings.root / "releases")
    _audit("feedback.rejected", report=report_id)
    emit(rec, as_json, lambda r: console.print(f"Report {r['id']} rejected."))


@app.command("serve")
def serve(port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8765) -> None:
    """Serve the site and accept the error form on 127.0.0.1 (for the enclave's browser)."""
    from sdwh.feedback.server import serve_forever

    serve_forever(get_settings(), port)
