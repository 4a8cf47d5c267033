"""Printing for commands: rich for people, one JSON object for machines (``--json``)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.markup import escape

console = Console(stderr=False)
err_console = Console(stderr=True)


def emit(payload: dict[str, Any], as_json: bool, render: Callable[[dict[str, Any]], None]) -> None:
    """Print ``payload`` as one JSON object, or let ``render`` draw it for a person."""
    if as_json:
        sys.stdout.write(json.dumps(payload, default=str, sort_keys=True) + "\n")
    else:
        render(payload)


def fail(message: str, hint: str = "", as_json: bool = False) -> None:
    """Report an error as one sentence plus a hint (JSON on stdout when asked)."""
    if as_json:
        sys.stdout.write(json.dumps({"error": message, "hint": hint}) + "\n")
    else:
        err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False,
                          soft_wrap=True)
        if hint:
            err_console.print(f"[dim]hint:[/] {escape(hint)}", highlight=False, soft_wrap=True)
