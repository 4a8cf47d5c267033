"""Group commit of API audit events: every answer waits until its event is on disk.

``AuditLog.append`` locks the log, writes one record and fsyncs twice (log and head file): about
10 ms on a loaded VM, which would cap the API at ~100 requests/s with requests queueing on the
lock. Here request threads hand their event to one writer thread and block until the batch that
holds it is appended — under the same lock, with the same records (``sdwh.audit.chain``), the
same head file, one write and one fsync per batch. An answer is therefore never sent before its
audit record is durable, and ``sdwh audit verify`` sees an ordinary chain.

The batch itself is ``AuditLog.append_many``.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from sdwh.audit.log import AuditLog
from sdwh.errors import SdwhError

MAX_BATCH = 512


class AuditUnavailable(SdwhError):
    """The audit record could not be written: the answer must not be given."""


class _Pending:
    __slots__ = ("actor", "details", "done", "error", "event")

    def __init__(self, event: str, actor: str, details: dict[str, Any]) -> None:
        self.event, self.actor, self.details = event, actor, details
        self.done = threading.Event()
        self.error: BaseException | None = None


class GroupCommitAudit:
    """``append(event, actor, **details)`` like AuditLog, batched across threads."""

    def __init__(self, log: AuditLog, timeout: float = 30.0) -> None:
        self.log = log
        self.path = log.path
        self.timeout = timeout
        self._queue: queue.Queue[_Pending] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def append(self, event: str, actor: str, **details: Any) -> None:
        if not event or not actor:
            raise SdwhError("an audit event needs an event name and an actor", "")
        item = _Pending(event, actor, details)
        self._queue.put(item)
        if not item.done.wait(self.timeout):
            raise AuditUnavailable("The audit log could not be written in time; the answer is "
                            "withheld.", "Tell VSA: the audit disk may be full or locked.")
        if item.error is not None:
            raise AuditUnavailable(f"The audit log could not be written ({item.error}); the answer "
                            "is withheld.", "Tell VSA: the audit disk may be full.")

    def events(self, event_prefix: str | None = None) -> Any:
        return self.log.events(event_prefix)

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self.log.append_many([(p.event, p.actor, p.details) for p in batch])
            except Exception as err:  # reported to every waiting request
                for p in batch:
                    p.error = err
            for p in batch:
                p.done.set()
