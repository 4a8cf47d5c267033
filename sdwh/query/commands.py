"""``sdwh api build|token …`` and the body of ``sdwh serve api`` (thin: calls the library)."""

from __future__ import annotations

import ipaddress
import os
import time
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
from rich.table import Table

from sdwh.config import Settings, get_settings
from sdwh.console import console, emit
from sdwh.errors import SdwhError

app = typer.Typer(help="Standard products for policy services: cubes and API tokens.",
                  no_args_is_help=True, add_completion=False, rich_markup_mode=None)
token_app = typer.Typer(help="API tokens of policy services (stored hashed).",
                        no_args_is_help=True, add_completion=False, rich_markup_mode=None)
app.add_typer(token_app, name="token")
JSON = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _store(settings: Settings) -> Any:
    from sdwh.query.tokens import TokenStore

    return TokenStore(settings.root / "query" / "tokens.sqlite")


def _audit(settings: Settings, event: str, **details: Any) -> None:
    import getpass

    from sdwh.audit.log import audit_log

    audit_log(settings).append(event, getpass.getuser(), **details)


@app.command()
def build(as_json: JSON = False) -> None:
    """Materialise the product cubes and the published protected tables from the warehouse."""
    from sdwh.query.cubes import build_cubes

    settings = get_settings()
    started = time.perf_counter()
    with console.status("building product cubes") as status:
        summary = build_cubes(settings, on_step=lambda s: status.update(f"building: {s}"))
    summary["seconds"] = round(time.perf_counter() - started, 2)
    _audit(settings, "api.cubes_built", cubes=summary["cubes"], warehouse=summary["warehouse"],
           products=summary["products"], published=summary["published"])

    def render(p: dict[str, Any]) -> None:
        console.print(f"[green]product cubes built[/] from {p['warehouse']} "
                      f"({p['persons']:,} persons) in {p['seconds']} s")
        for name, info in p["products"].items():
            console.print(f"  cube {name}: {info['cells']:,} cells")
        for name, rows in p["published"].items():
            console.print(f"  published table {name}: {rows:,} rows")
    emit(summary, as_json, render)


@token_app.command("create")
def token_create(
    service: Annotated[str, typer.Argument(help="Policy service the token is for.")],
    role: Annotated[list[str], typer.Option("--role", help="tables and/or sql (repeatable).")
                    ] = ["tables"],  # noqa: B006
    rate_limit: Annotated[int | None, typer.Option(help="Requests per minute "
                                                   "(default SDWH_API_RATE_LIMIT).")] = None,
    as_json: JSON = False,
) -> None:
    """Create a token; its secret is printed once and stored only as a hash."""
    settings = get_settings()
    token, secret = _store(settings).create(service, role, rate_limit)
    _audit(settings, "api.token_created", token_id=token.id, service=token.service,
           roles=list(token.roles), rate_limit=rate_limit)

    def render(p: dict[str, Any]) -> None:
        console.print(f"token {p['id']} for {p['service']} (roles {', '.join(p['roles'])}):")
        console.print(p["token"], soft_wrap=True, highlight=False)
        console.print("[dim]Hand it over securely; it is not shown again.[/]")
    emit({**token.as_dict(), "token": secret}, as_json, render)


@token_app.command("list")
def token_list(as_json: JSON = False) -> None:
    """All tokens (never their secrets)."""
    tokens = [t.as_dict() for t in _store(get_settings()).list()]

    def render(p: dict[str, Any]) -> None:
        table = Table("id", "service", "roles", "rate limit", "created", "revoked")
        for t in p["tokens"]:
            table.add_row(t["id"], t["service"], ",".join(t["roles"]),
                          str(t["rate_limit"] or "default"), t["created_at"],
                          t["revoked_at"] or "")
        console.print(table)
    emit({"tokens": tokens}, as_json, render)


@token_app.command("revoke")
def token_revoke(token_id: Annotated[str, typer.Argument(help="Token id.")],
                 as_json: JSON = False) -> None:
    """Revoke a token; requests with it are refused from now on."""
    settings = get_settings()
    token = _store(settings).revoke(token_id)
    _audit(settings, "api.token_revoked", token_id=token.id, service=token.service)
    emit(token.as_dict(), as_json,
         lambda p: console.print(f"token {p['id']} ({p['service']}) revoked at {p['revoked_at']}"))


def _warn_if_stale(settings: Settings) -> None:
    """The cubes say which warehouse file (size, mtime) they were built from."""
    import duckdb

    from sdwh.query.cubes import cube_path, fingerprint, load_meta, warehouse_path

    con = duckdb.connect(str(cube_path(settings)), read_only=True)
    try:
        built_from = load_meta(con).get("warehouse_fingerprint")
    finally:
        con.close()
    source = warehouse_path(settings)
    if source.is_file() and built_from != fingerprint(source):
        console.print("[yellow]warning:[/] the warehouse changed since `sdwh api build`; "
                      "answers are from the previous build until it is run again.")


def hub_mounted(app_: Any) -> Any:
    """Under JupyterHub the proxy forwards /services/<name>/…: serve the API below that
    prefix (env JUPYTERHUB_SERVICE_PREFIX); standalone, serve it at the root."""
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "").rstrip("/")
    if not prefix:
        return app_
    from starlette.applications import Starlette
    from starlette.routing import Mount

    return Starlette(routes=[Mount(prefix, app=app_)])


def app_from_environment() -> Any:
    """The app of one worker process (``SDWH_API_WORKERS`` > 1)."""
    from sdwh.query.app import create_app

    return hub_mounted(create_app(get_settings()))


def serve_api(host: str | None = None, port: int | None = None, build_if_missing: bool = True
              ) -> None:
    """Run the API with uvicorn (one process: rate limits and the cache live in memory)."""
    import uvicorn

    from sdwh.query.app import create_app
    from sdwh.query.cubes import build_cubes, cube_path, published_path

    settings = get_settings()
    hub_url = os.environ.get("JUPYTERHUB_SERVICE_URL")  # set when the hub starts us
    if hub_url and port is None:
        port = urlsplit(hub_url).port
    host = host or settings.api_host
    port = port or settings.api_port
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        console.print(f"[yellow]warning:[/] binding {host}; put a TLS reverse proxy in front "
                      "(docs/policy-services.md).")
    if build_if_missing and not (cube_path(settings).is_file()
                                 and published_path(settings).is_file()):
        console.print("product cubes missing: building them first")
        build_cubes(settings)
    _warn_if_stale(settings)  # before the app opens the cubes with its locked-down config
    workers = settings.api_workers
    console.print(f"policy-service API on http://{host}:{port} (docs at /docs, "
                  f"{workers} process{'es' if workers > 1 else ''}); Ctrl-C stops it")
    try:
        if workers > 1:  # uvicorn starts each worker from the factory, settings from the env
            uvicorn.run("sdwh.query.commands:app_from_environment", factory=True,
                        workers=workers, host=host, port=port, log_level="warning",
                        access_log=False)
        else:
            uvicorn.run(hub_mounted(create_app(settings)), host=host, port=port,
                        log_level="warning", access_log=False)
    except OSError as err:
        raise SdwhError(f"Could not listen on {host}:{port}: {err}.",
                        "Choose another port with --port or SDWH_API_PORT.") from err
