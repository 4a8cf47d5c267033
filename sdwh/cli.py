"""The ``sdwh`` command. Thin: each command parses options and calls a stage's library API.

Errors raised as :class:`sdwh.errors.SdwhError` are reported once here, as one sentence plus a
hint, with exit code 1; no traceback reaches a user.
"""

from __future__ import annotations

import sys
from importlib import import_module

import click
import typer
from typer.core import TyperGroup

from sdwh.console import fail
from sdwh.errors import SdwhError

#: Command name → (module, attribute, one-line help). Modules are imported only when their
#: command runs, so ``sdwh ingest`` does not pay for dbt's or SciPy's import time.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "synth": ("sdwh.synth.commands", "synth", "Write synthetic supplier deliveries."),
    "ingest": ("sdwh.landing.commands", "ingest",
               "Validate deliveries, quarantine bad rows, pseudonymise, store Parquet."),
    "deliveries": ("sdwh.deliveries.commands", "deliveries",
                   "Show the delivery register and supplier timeliness."),
    "build": ("sdwh.warehouse.commands", "build", "Build the warehouse with dbt."),
    "serve": ("sdwh.serve", "app", "Run a service: the enclave hub, the policy-service API."),
    "disclosure": ("disclosure.cli", "app", "Statistical disclosure control of tables and "
                   "microdata."),
    "audit": ("sdwh.audit.commands", "app", "Verify and read the hash-chained audit log."),
    "publish": ("sdwh.publish.commands", "publish",
                "Publish a VOS release: protected indicators in open formats, with revisions."),
    "catalog": ("sdwh.catalog.commands", "app",
                "Write and validate the DCAT-AP catalogue and the variable dictionary."),
    "site": ("sdwh.publish.site", "site", "Build the static publication site from releases."),
    "feedback": ("sdwh.feedback.commands", "app",
                 "Report data errors and keep the error register per dataset."),
    "api": ("sdwh.query.commands", "app",
            "Standard products for policy services: build cubes, manage API tokens."),
    "sample": ("sdwh.sampling.commands", "app",
               "Draw survey samples from the population register (TTP)."),
    "project": ("sdwh.projects.commands", "app",
                "Research projects, authorisations and frozen extracts."),
    "airlock": ("sdwh.airlock.commands", "app",
                "Output checking and release of export requests."),
}


class LazyCommands(TyperGroup):
    """A command group that imports a command's module only when that command is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[name]
        target = getattr(import_module(module), attribute)
        if isinstance(target, typer.Typer):
            group = typer.main.get_group(target)
            group.name = name
            return group
        single = typer.Typer(add_completion=False)
        single.command(name=name)(target)
        return typer.main.get_command(single)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, helptext) for name, (_, _, helptext) in COMMANDS.items()])


app = typer.Typer(
    name="sdwh",
    cls=LazyCommands,
    rich_markup_mode=None,
    help="Statistical data warehouse: synthetic deliveries, landing, TTP, warehouse, release.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Statistical data warehouse: synthetic deliveries, landing, TTP, warehouse, release."""


def _write_crash_report() -> str:
    """Keep the traceback for developers without showing it to the user."""
    import traceback

    from sdwh.config import get_settings

    try:
        path = get_settings().root / "logs" / "last-error.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(traceback.format_exc())
        return str(path)
    except OSError:
        return "(could not be written)"


def main() -> None:
    """Entry point of the console script."""
    as_json = "--json" in sys.argv
    try:
        code = app(standalone_mode=False)
    except SdwhError as err:
        fail(err.message, err.hint, as_json)
        sys.exit(err.exit_code)
    except typer.Abort:
        fail("Aborted.", as_json=as_json)
        sys.exit(1)
    except Exception as err:  # click usage errors and the like
        if isinstance(err, click.exceptions.ClickException):
            fail(err.format_message(), "Run the command with --help to see its options.", as_json)
            sys.exit(2)
        report = _write_crash_report()
        fail(f"Internal error ({type(err).__name__}: {str(err).splitlines()[0][:200]}).",
             f"This is a bug, not your input; the full traceback is in {report}.", as_json)
        sys.exit(3)
    sys.exit(code if isinstance(code, int) else 0)
