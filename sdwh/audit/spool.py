"""Audit events from processes that must not hold the audit log (kernels inside the enclave).

A kernel appends JSON lines to a spool file in a directory it may write; the hub side, which
knows who owns the session, moves them into the hash chain with :func:`collect`. Spooled events
are claims made from inside the sandbox, so the collector records them under the session's
owner and marks them ``spooled``. Collection is at-least-once: a crash between appending to the
chain and saving the read offset can repeat a line, never lose one.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sdwh.audit.log import AuditLog

SPOOL_FILE = "events.jsonl"
OFFSET_FILE = ".collected"


def write_spool(spool_dir: Path | str, event: str, **details: Any) -> None:
    """Append one event line to the spool (a single O_APPEND write, so lines never interleave)."""
    line = json.dumps({"event": event, "at": datetime.now(UTC).isoformat(), "details": details},
                      default=str, ensure_ascii=False) + "\n"
    fd = os.open(Path(spool_dir) / SPOOL_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def collect(spool_dir: Path | str, log: AuditLog, actor: str) -> int:
    """Move complete spool lines not yet collected into ``log``; returns how many were moved."""
    spool = Path(spool_dir) / SPOOL_FILE
    offset_path = Path(spool_dir) / OFFSET_FILE
    if not spool.exists():
        return 0
    offset = int(offset_path.read_text() or 0) if offset_path.exists() else 0
    with spool.open("rb") as f:
        f.seek(offset)
        data = f.read()
    complete = data[: data.rfind(b"\n") + 1]
    moved = 0
    for raw in complete.splitlines():
        try:
            line = json.loads(raw)
            event = f"{line['event']}" if str(line["event"]).strip() else "enclave.unnamed"
            details = line.get("details") if isinstance(line.get("details"), dict) else {}
            claimed_at = line.get("at")
        except (json.JSONDecodeError, KeyError, TypeError):
            event, details, claimed_at = "audit.spool_garbage", {"line": raw[:500].decode(
                "utf-8", "replace")}, None
        log.append(event, actor, spooled=True, claimed_at=claimed_at, **details)
        moved += 1
    tmp = offset_path.with_suffix(".tmp")
    tmp.write_text(str(offset + len(complete)))
    os.replace(tmp, offset_path)
    return moved
