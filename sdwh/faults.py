"""Failpoints: named places where a test can make the process die as a crash would.

``SDWH_FAILPOINT=<name>`` makes :func:`failpoint` end the process at once (exit 70) without
cleanup, so tests can prove that a crash at that point leaves no half-written state and that
re-running converges.
"""

from __future__ import annotations

import os


def failpoint(name: str) -> None:
    if os.environ.get("SDWH_FAILPOINT") == name:
        os._exit(70)
