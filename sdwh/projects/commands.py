"""``sdwh project …``: research projects, their authorisations and frozen extracts (VSA staff)."""

from __future__ import annotations

import getpass
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from sdwh.config import get_settings
from sdwh.console import console, emit
from sdwh.projects.model import Project, ProjectState
from sdwh.projects.registry import Registry

app = typer.Typer(help="Research projects, authorisations and extracts.", no_args_is_help=True,
                  add_completion=False, rich_markup_mode=None)

Json = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
Actor = Annotated[str | None, typer.Option("--as", help="Who acts (default: your account).")]


def _actor(value: str | None) -> str:
    return value or getpass.getuser()


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def _payload(project: Project) -> dict[str, Any]:
    return {"project": project.model_dump(mode="json")}


def _render_project(payload: dict[str, Any]) -> None:
    p = payload["project"]
    table = Table(show_header=False, title=f"project {p['id']} ({p['state']})")
    for key, value in p.items():
        table.add_row(key, ", ".join(value) if isinstance(value, list) else str(value))
    if payload.get("extract"):
        table.add_row("current extract", str(payload["extract"]))
    console.print(table)
    for h in payload.get("history", []):
        console.print(f"  {h['at'][:19]} {h['actor']}: {h['action']} → {h['to']} "
                      f"{h['details'] or ''}", highlight=False)


@app.command()
def create(
    project_id: Annotated[str, typer.Argument(help="Slug, e.g. neet-2026 ([a-z0-9-]{3,40}).")],
    title: Annotated[str, typer.Option(help="Title of the research.")],
    organisation: Annotated[str, typer.Option(help="The researchers' organisation.")],
    legal_basis: Annotated[str, typer.Option(help="Legal basis of the processing.")],
    researcher: Annotated[list[str], typer.Option(
        help="Accredited researcher account (repeat or comma-separate).")],
    dataset: Annotated[list[str], typer.Option(help="Approved thematic dataset (repeat).")],
    variables: Annotated[list[str], typer.Option(
        help="Approved columns, comma separated (`column` or `dataset.column`).")],
    period_from: Annotated[str, typer.Option("--from", help="First quarter, e.g. 2024Q1.")],
    period_to: Annotated[str, typer.Option("--to", help="Last quarter, e.g. 2025Q4.")],
    start: Annotated[str, typer.Option(help="First day of access (YYYY-MM-DD).")],
    end: Annotated[str, typer.Option(help="Last day of access (YYYY-MM-DD).")],
    retention_until: Annotated[str, typer.Option(help="Destroy data by (YYYY-MM-DD).")],
    deliberation: Annotated[str, typer.Option(help="Deliberation reference, if known.")] = "",
    population: Annotated[str | None, typer.Option(
        help="SQL condition selecting the approved population, e.g. \"age between 18 and 24\".")
    ] = None,
    actor: Actor = None, as_json: Json = False,
) -> None:
    """Record a requested project and its authorisation (state: requested)."""
    from sdwh.projects.population import check_population

    if population:
        check_population(population)
    project = Registry(get_settings()).create(
        _actor(actor), id=project_id, title=title, organisation=organisation,
        legal_basis=legal_basis, deliberation_ref=deliberation,
        accredited=_split(researcher), datasets=_split(dataset), variables=_split(variables),
        period_from=period_from, period_to=period_to, population=population,
        start_date=_date(start, "--start"), end_date=_date(end, "--end"),
        retention_until=_date(retention_until, "--retention-until"))
    emit(_payload(project), as_json, _render_project)


def _date(value: str, option: str) -> date:
    from sdwh.errors import SdwhError

    try:
        return date.fromisoformat(value)
    except ValueError:
        raise SdwhError(f"{option} {value!r} is not a date.", "Use YYYY-MM-DD.") from None


@app.command()
def approve(
    project_id: str,
    deliberation: Annotated[str | None, typer.Option(help="Deliberation reference.")] = None,
    actor: Actor = None, as_json: Json = False,
) -> None:
    """Approve a requested project (four eyes: not by its requester)."""
    emit(_payload(Registry(get_settings()).approve(project_id, _actor(actor), deliberation)),
         as_json, _render_project)


@app.command()
def activate(project_id: str, actor: Actor = None, as_json: Json = False) -> None:
    """Open an approved project for its granted researchers."""
    emit(_payload(Registry(get_settings()).activate(project_id, _actor(actor))), as_json,
         _render_project)


@app.command()
def grant(project_id: str, username: str, actor: Actor = None, as_json: Json = False) -> None:
    """Give an accredited researcher access to the project."""
    emit(_payload(Registry(get_settings()).grant(project_id, username, _actor(actor))), as_json,
         _render_project)


@app.command()
def revoke(project_id: str, username: str,
           reason: Annotated[str, typer.Option(help="Why access ends.")] = "",
           actor: Actor = None, as_json: Json = False) -> None:
    """End one researcher's access (for good: re-granting needs a new authorisation)."""
    emit(_payload(Registry(get_settings()).revoke(project_id, username, _actor(actor), reason)),
         as_json, _render_project)


@app.command()
def close(project_id: str, reason: Annotated[str, typer.Option(help="Why it closes.")] = "",
          actor: Actor = None, as_json: Json = False) -> None:
    """Close a project: all access ends."""
    emit(_payload(Registry(get_settings()).close(project_id, _actor(actor), reason)), as_json,
         _render_project)


@app.command(name="list")
def list_(
    state: Annotated[ProjectState | None, typer.Option(help="Only projects in this state.")
                     ] = None,
    as_json: Json = False,
) -> None:
    """List projects (active projects past their end date are expired first)."""
    registry = Registry(get_settings())
    expired = registry.expire_due()
    projects = registry.list(state)
    payload = {"projects": [p.model_dump(mode="json") for p in projects],
               "expired_now": [p.id for p in expired]}

    def render(data: dict[str, Any]) -> None:
        table = Table(title="Projects")
        for col in ("id", "state", "organisation", "researchers", "datasets", "period",
                    "access"):
            table.add_column(col)
        for p in data["projects"]:
            table.add_row(p["id"], p["state"], p["organisation"], ", ".join(p["researchers"]),
                          ", ".join(p["datasets"]), f"{p['period_from']}-{p['period_to']}",
                          f"{p['start_date']}..{p['end_date']}")
        console.print(table)
        if data["expired_now"]:
            console.print(f"expired now: {', '.join(data['expired_now'])}")

    emit(payload, as_json, render)


@app.command()
def show(project_id: str, as_json: Json = False) -> None:
    """Show one project, its current extract and its history."""
    registry = Registry(get_settings())
    project = registry.get(project_id)
    current = registry.current_extract(project_id)
    payload = {**_payload(project), "history": registry.history(project_id),
               "extract": current.name if current else None}
    emit(payload, as_json, _render_project)


@app.command()
def extract(
    project_id: str,
    warehouse: Annotated[Path | None, typer.Option(
        help="Warehouse DuckDB to read (read-only); default $SDWH_HOME/warehouse/sdwh.duckdb.")
    ] = None,
    actor: Actor = None, as_json: Json = False,
) -> None:
    """Freeze a new extract of the project's approved data, with project pseudonyms."""
    from sdwh.projects.extract import make_extract

    manifest = make_extract(get_settings(), project_id, _actor(actor), warehouse=warehouse,
                            progress=not as_json)

    def render(m: dict[str, Any]) -> None:
        table = Table(title=f"extract {m['extract_id']} of {m['project']}")
        for col in ("dataset", "rows", "persons", "columns", "sha256"):
            table.add_column(col)
        for name, t in m["tables"].items():
            table.add_row(name, f"{t['rows']:,}", f"{t['persons']:,}", str(len(t["columns"])),
                          t["sha256"][:16])
        console.print(table)
        risk = m["risk_report"]
        console.print(f"risk report: {risk.get('summary', risk)}", highlight=False)
        console.print(f"written to {m['path']} in {m['seconds']:.1f} s (read-only)")

    emit(manifest, as_json, render)
