"""The ``sdwh`` command. Thin: each command parses options and calls a stage's library API.

Errors raised as :class:`sdwh.errors.SdwhError` are reported once here, as one sentence plus a
hint, with exit code 1; no traceback reaches a user.
"""

from __future__ import annotations

import sys

import typer

from sdwh.console import fail
from sdwh.errors import SdwhError

app = typer.Typer(
    name="sdwh",
    help="Statistical data warehouse: synthetic deliveries, landing, TTP, warehouse, release.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

JSON_OPTION = typer.Option(False, "--json", help="Print one JSON object instead of a report.")


def _register_commands() -> None:
    if app.registered_commands:
        return
    from disclosure.cli import app as disclosure_app
    from sdwh.deliveries.commands import deliveries
    from sdwh.landing.commands import ingest
    from sdwh.synth.commands import synth
    from sdwh.warehouse.commands import build

    app.command("synth")(synth)
    app.command("ingest")(ingest)
    app.command("deliveries")(deliveries)
    app.command("build")(build)
    app.add_typer(disclosure_app, name="disclosure")


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
    _register_commands()
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
        import click

        if isinstance(err, click.exceptions.ClickException):
            fail(err.format_message(), "Run the command with --help to see its options.", as_json)
            sys.exit(2)
        report = _write_crash_report()
        fail(f"Internal error ({type(err).__name__}: {str(err).splitlines()[0][:200]}).",
             f"This is a bug, not your input; the full traceback is in {report}.", as_json)
        sys.exit(3)
    sys.exit(code if isinstance(code, int) else 0)
