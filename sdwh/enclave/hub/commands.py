"""The CLI of the hub: ``sdwh serve hub`` and ``sdwh serve account …``."""

from __future__ import annotations

import os
import subprocess
import time
from typing import Annotated

import typer

from sdwh.config import get_settings
from sdwh.console import console, emit
from sdwh.enclave.hub import config, run, totp
from sdwh.enclave.hub.accounts import Role
from sdwh.errors import SdwhError

account_app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None)

DEMO_RESEARCHERS = ["alice", "bob"]
DEMO_STAFF = ["vsa-checker"]


def serve_hub(demo: bool, port: int | None) -> None:
    """Check, prepare and run the hub in the foreground until Ctrl-C."""
    settings = get_settings()
    if port is not None:
        settings = settings.model_copy(update={"hub_port": port})
    if settings.hub_mode == "secure":
        problems = config.preflight(settings)
        if problems:
            raise SdwhError("The enclave hub refuses to start in secure mode: "
                            + "; ".join(problems) + ".",
                            "Fix the cause, or set SDWH_HUB_MODE=development on a laptop "
                            "(no isolation; never with real data).")
    else:
        console.print("[bold red]DEVELOPMENT MODE: no network or account isolation. "
                      "Never use real data.[/]")
    created: list[str] = []
    if demo:
        for name in DEMO_RESEARCHERS + DEMO_STAFF:
            if run.ensure_os_account(name):
                created.append(name)
        accounts = run.demo_accounts(settings, DEMO_RESEARCHERS, DEMO_STAFF)
    url = f"http://{settings.hub_ip}:{settings.hub_port}/hub/login"
    env = run.hub_environment(settings)
    env["SDWH_HUB_PORT"] = str(settings.hub_port)
    log_path = run.hub_log(settings)
    config.hub_dir(settings).mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(run.hub_command(settings), env=env, stdout=log,
                                   stderr=subprocess.STDOUT, cwd=config.hub_dir(settings),
                                   start_new_session=True)
    try:
        seconds = run.wait_until_up(url, process)
        console.print(f"Enclave hub up in {seconds:.1f} s at [bold]{url}[/] "
                      f"(mode {settings.hub_mode}; log {log_path}).")
        if demo:
            for a in accounts:
                console.print(f"  {a.role.value:10} [bold]{a.username}[/]  password "
                              f"{a.password}  TOTP secret {a.secret}  projects: "
                              f"{', '.join(a.projects) or '(none active)'}")
            console.print("  Current one-time code: `sdwh serve account code NAME`, or add the "
                          "secret to an authenticator app.")
            if not any(a.projects for a in accounts):
                console.print("  No demo researcher has an active project with an extract yet: "
                              "create one with `sdwh project create|approve|grant` and "
                              "`sdwh project extract` (docs/vsa-staff.md).")
        console.print("Ctrl-C stops the hub and every server it started.")
        while process.poll() is None:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        run.stop(process)
        for name in created:
            run.remove_os_account(name)
        if demo:
            for name in DEMO_RESEARCHERS + DEMO_STAFF:
                run.store(settings).remove(name)


@account_app.command("add")
def account_add(username: str,
                role: Annotated[Role, typer.Option(help="Role.")] = Role.RESEARCHER,
                json_out: bool = typer.Option(False, "--json")) -> None:
    """Create an account and print its one-time enrolment code (valid 7 days)."""
    code = run.store(get_settings()).add(username, role)
    emit({"username": username, "role": role.value, "enrolment_code": code}, json_out,
         lambda p: console.print(f"Account {username} ({role.value}) created. Enrolment code: "
                                 f"[bold]{code}[/] — give it to the person through a second "
                                 "channel; they enrol at /hub/enrol."))


@account_app.command("reset")
def account_reset(username: str, json_out: bool = typer.Option(False, "--json")) -> None:
    """Forget password and TOTP secret (lost phone) and print a new enrolment code."""
    code = run.store(get_settings()).reset(username)
    emit({"username": username, "enrolment_code": code}, json_out,
         lambda p: console.print(f"Account {username} must enrol again. Code: [bold]{code}[/]"))


@account_app.command("remove")
def account_remove(username: str, json_out: bool = typer.Option(False, "--json")) -> None:
    """Remove an account (the person can no longer log in)."""
    run.store(get_settings()).remove(username)
    emit({"username": username, "removed": True}, json_out,
         lambda p: console.print(f"Account {username} removed."))


@account_app.command("list")
def account_list(json_out: bool = typer.Option(False, "--json")) -> None:
    """List accounts, their role and whether they are enrolled."""
    rows = [{"username": a.username, "role": a.role.value, "enrolled": a.enrolled,
             "locked": a.locked_until > time.time()} for a in run.store(get_settings()).list()]

    def render(p: dict) -> None:
        for r in p["accounts"]:
            console.print(f"{r['username']:20} {r['role']:10} "
                          f"{'enrolled' if r['enrolled'] else 'awaiting enrolment'}"
                          f"{' LOCKED' if r['locked'] else ''}")

    emit({"accounts": rows}, json_out, render)


@account_app.command("code")
def account_code(username: str, json_out: bool = typer.Option(False, "--json")) -> None:
    """Print the account's current one-time code (demo and operator checks; needs root)."""
    account = run.store(get_settings()).get(username)
    if account is None or not account.totp_secret:
        raise SdwhError(f"Account {username} has no TOTP secret.",
                        "Enrol it first (or start the hub with --demo).")
    code = totp.code_at(account.totp_secret, time.time())
    emit({"username": username, "code": code, "uid": os.geteuid()}, json_out,
         lambda p: console.print(code))
