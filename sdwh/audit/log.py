"""The audit log file: locked appends, verification and reading.

One JSON record per line in ``$SDWH_HOME/audit/audit.jsonl`` (mode 0600). Appends from several
processes are serialised with an exclusive ``flock``. A small head file (last seq and hash) is
rewritten after each append so that cutting records off the end is detected too; anchoring that
head outside the machine (e.g. in a daily e-mail to the DPO) is the operator's part, see
docs/operations.md.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sdwh.audit.chain import GENESIS, check_link, new_record
from sdwh.config import Settings
from sdwh.errors import SdwhError


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    events: int
    first_bad_seq: int | None
    reason: str
    head_hash: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class AuditLog:
    """An append-only, hash-chained log of events."""

    def __init__(self, path: Path, clock: Callable[[], str] = _utc_now) -> None:
        self.path = Path(path)
        self.head_path = self.path.with_suffix(".head")
        self._clock = clock

    def append(self, event: str, actor: str, **details: Any) -> dict[str, Any]:
        """Seal and append one event; returns the stored record."""
        return self.append_many([(event, actor, details)])[0]

    def append_many(self, items: list[tuple[str, str, dict[str, Any]]]) -> list[dict[str, Any]]:
        """Seal and append several ``(event, actor, details)`` under one lock, one write and one
        fsync: a busy writer (the query API) pays the disk once per batch, not once per event."""
        if not items:
            return []
        for event, actor, _ in items:
            if not event or not actor:
                raise SdwhError("an audit event needs an event name and an actor",
                                "Pass event='area.action' and the user or service that acted.")
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            last = _last_record(fd)
            seq, prev = (last["seq"] + 1, last["hash"]) if last else (1, GENESIS)
            records = []
            for event, actor, details in items:
                record = new_record(seq, self._clock(), event, actor, details, prev)
                records.append(record)
                seq, prev = seq + 1, record["hash"]
            os.write(fd, "".join(json.dumps(r, ensure_ascii=False) + "\n"
                                 for r in records).encode())
            os.fsync(fd)
            self._write_head(records[-1])
        finally:
            os.close(fd)  # closing releases the lock
        return records

    def events(self, event_prefix: str | None = None) -> Iterator[dict[str, Any]]:
        """Every record in order (optionally only events starting with ``event_prefix``)."""
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                record = json.loads(line)
                if event_prefix is None or str(record.get("event", "")).startswith(event_prefix):
                    yield record

    def verify(self) -> VerifyResult:
        """Walk the whole chain; report the first record that breaks it, or a cut-off tail."""
        expected_seq, prev, count = 1, GENESIS, 0
        if self.path.exists():
            with self.path.open(encoding="utf-8") as f:
                for number, line in enumerate(f, start=1):
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:
                        return VerifyResult(False, count, expected_seq,
                                            f"line {number} is not a JSON record", prev)
                    reason = check_link(record, expected_seq, prev)
                    if reason:
                        return VerifyResult(False, count, expected_seq,
                                            f"line {number}: {reason}", prev)
                    expected_seq, prev, count = expected_seq + 1, record["hash"], count + 1
        head = self._read_head()
        if head and (head["seq"] > count or (head["seq"] == count and head["hash"] != prev)):
            return VerifyResult(False, count, count + 1,
                                f"the log ends at record {count} but its head says "
                                f"{head['seq']}: records were removed from the end", prev)
        return VerifyResult(True, count, None, "", prev)

    def _write_head(self, record: dict[str, Any]) -> None:
        tmp = self.head_path.with_suffix(".head.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, json.dumps({"seq": record["seq"], "hash": record["hash"]}).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.head_path)

    def _read_head(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.head_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None


def _last_record(fd: int) -> dict[str, Any] | None:
    """The last complete record of the open log, read backwards from its end."""
    size = os.lseek(fd, 0, os.SEEK_END)
    if size == 0:
        return None
    block, tail = 65536, b""
    position = size
    while position > 0:
        step = min(block, position)
        position -= step
        tail = os.pread(fd, step, position) + tail
        lines = tail.rstrip(b"\n").split(b"\n")
        if len(lines) > 1 or position == 0:
            return json.loads(lines[-1])
    return None


def audit_log(settings: Settings) -> AuditLog:
    """The audit log of the data root ``settings`` points at."""
    return AuditLog(settings.root / "audit" / "audit.jsonl")
