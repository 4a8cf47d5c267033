"""``sdwh airlock …``: the output checkers' commands (the hub's review app uses the same API)."""

from __future__ import annotations

import getpass
from typing import Annotated, Any

import typer
from rich.table import Table

from sdwh.config import get_settings
from sdwh.console import console, emit

app = typer.Typer(help="Output checking and release of export requests.", no_args_is_help=True,
                  add_completion=False, rich_markup_mode=None)

Json = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
Actor = Annotated[str | None, typer.Option("--as", help="Who acts (default: your account).")]


def _service():
    from sdwh.airlock.service import AirlockService

    return AirlockService(get_settings())


def _actor(value: str | None) -> str:
    return value or getpass.getuser()


def _render_request(payload: dict[str, Any]) -> None:
    r = payload["request"]
    console.print(f"[bold]{r['id']}[/] ({r['state']}) project {r['project_id']} by "
                  f"{r['author']}; turn {r['turn']}, reviews complete {r['reviews_complete']}"
                  f"{', fast path' if r['fast_path'] else ''}", highlight=False)
    for key, value in r["context"].items():
        console.print(f"  {key}: {value}", highlight=False)
    table = Table()
    for col in ("file", "kind", "automatic", "reasons", "votes"):
        table.add_column(col)
    for f in r["files"]:
        check = f.get("check") or {}
        votes = ", ".join(f"{v['checker']}: {v['decision']}" for v in r["votes"]
                          if v["file"] == f["name"])
        table.add_row(f["name"], f["kind"], check.get("status", "-"),
                      "\n".join(check.get("reasons", [])), votes)
    console.print(table)
    for c in r["comments"]:
        console.print(f"  [{'public' if c['public'] else 'private'}] {c['author']}: "
                      f"{c['text']}", highlight=False)


@app.command(name="list")
def list_(
    actor: Actor = None,
    sampled: Annotated[bool, typer.Option(help="Fast-path releases drawn for ex-post "
                                          "review instead of the queue.")] = False,
    as_json: Json = False,
) -> None:
    """The checkers' queue: requests waiting, oldest first, with waiting times."""
    service = _service()
    if sampled:
        payload: dict[str, Any] = {"sampled": service.sampled()}
    else:
        payload = {"queue": service.queue(_actor(actor))}

    def render(data: dict[str, Any]) -> None:
        rows = data.get("queue", data.get("sampled", []))
        if not rows:
            console.print("No requests waiting." if "queue" in data else "Nothing sampled.")
            return
        table = Table(title="Export requests" if "queue" in data else "Ex-post sample")
        keys = list(rows[0]) if rows else ["id"]
        for key in keys:
            table.add_column(key)
        for row in rows:
            table.add_row(*(str(row[k]) for k in keys))
        console.print(table)

    emit(payload, as_json, render)


@app.command()
def show(request_id: str, actor: Actor = None, as_json: Json = False) -> None:
    """One request as you may see it (votes stay blinded until both reviews are in)."""
    emit({"request": _service().view(request_id, _actor(actor))}, as_json, _render_request)


@app.command()
def vote(
    request_id: str,
    file: Annotated[str, typer.Argument(help="File name as listed by `show` (or 'all').")],
    decision: Annotated[str, typer.Argument(help="approve or changes_requested.")],
    comment: Annotated[str, typer.Option(help="Note with the vote.")] = "",
    override_reason: Annotated[str | None, typer.Option(
        help="Why a file that failed the automatic check is safe.")] = None,
    actor: Actor = None, as_json: Json = False,
) -> None:
    """Vote on one file (or all files) of a request."""
    from sdwh.errors import SdwhError

    if decision not in ("approve", "changes_requested"):
        raise SdwhError(f"Unknown decision {decision!r}.", "Use approve or changes_requested.")
    service = _service()
    who = _actor(actor)
    names = [f.name for f in service.get(request_id).files] if file == "all" else [file]
    for name in names:
        service.vote(request_id, who, name, decision, comment, override_reason)
    emit({"request": service.view(request_id, who)}, as_json, _render_request)


@app.command()
def decide(
    request_id: str,
    decision: Annotated[str, typer.Argument(help="approve, return or reject.")],
    reason: Annotated[str, typer.Option(help="Reason for the researcher (return/reject).")
                      ] = "",
    actor: Actor = None, as_json: Json = False,
) -> None:
    """Approve, return or reject a reviewed request."""
    from sdwh.errors import SdwhError

    service = _service()
    who = _actor(actor)
    if decision == "approve":
        service.approve(request_id, who)
    elif decision == "return":
        service.return_request(request_id, who, reason)
    elif decision == "reject":
        service.reject(request_id, who, reason)
    else:
        raise SdwhError(f"Unknown decision {decision!r}.", "Use approve, return or reject.")
    emit({"request": service.view(request_id, who)}, as_json, _render_request)


@app.command()
def release(request_id: str, actor: Actor = None, as_json: Json = False) -> None:
    """Copy an approved request's files, with checksums, to the released area."""
    service = _service()
    who = _actor(actor)
    request = service.release(request_id, who)
    payload = {"request": service.view(request_id, who), "path": request.release_path}

    def render(data: dict[str, Any]) -> None:
        console.print(f"released {request_id} to {data['path']}", highlight=False)

    emit(payload, as_json, render)
