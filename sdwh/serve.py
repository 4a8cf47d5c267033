"""``sdwh serve``: the long-running services (the enclave hub; the policy-service API)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Run a service.", no_args_is_help=True, add_completion=False,
                  rich_markup_mode=None)


@app.command("hub")
def hub(
    demo: bool = typer.Option(False, "--demo", help="Create enrolled demo accounts (and their "
                              "system accounts) and print their passwords and TOTP secrets."),
    port: int | None = typer.Option(None, help="Port (default SDWH_HUB_PORT, 8000)."),
) -> None:
    """Start the remote-access enclave (JupyterHub) on 127.0.0.1; Ctrl-C stops it."""
    from sdwh.enclave.hub.commands import serve_hub

    serve_hub(demo=demo, port=port)


@app.command("api")
def api(port: int | None = typer.Option(None, help="Port (default SDWH_API_PORT, 8750)."),
        host: str | None = typer.Option(None, help="Address (default SDWH_API_HOST, "
                                                   "127.0.0.1).")) -> None:
    """Start the policy-service API (FastAPI + uvicorn) on 127.0.0.1; Ctrl-C stops it."""
    from sdwh.query.commands import serve_api

    serve_api(host=host, port=port)


def _account_app() -> typer.Typer:
    from sdwh.enclave.hub.commands import account_app

    return account_app


app.add_typer(_account_app(), name="account",
              help="Hub accounts: add (prints an enrolment code), reset, list, remove, code.")
