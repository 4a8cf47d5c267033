"""Group commit of API audit events: concurrent appends form one valid chain, and a request's
append returns only once its record is on disk."""

from __future__ import annotations

import threading
from pathlib import Path

from sdwh.audit.log import AuditLog
from sdwh.query.auditing import GroupCommitAudit


def test_concurrent_appends_form_one_valid_chain_and_are_durable_on_return(
        tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit" / "audit.jsonl")
    log.append("api.started", "operator")  # records written the ordinary way come first
    batched = GroupCommitAudit(log)
    missing: list[str] = []

    def client(i: int) -> None:
        for j in range(25):
            marker = f"q-{i}-{j}"
            batched.append("api.sql", f"service-{i}", query=marker)
            if f'"{marker}"' not in log.path.read_text():
                missing.append(marker)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.append("api.stopped", "operator")  # and ordinary appends continue the same chain
    result = log.verify()
    assert result.ok, result.reason
    assert result.events == 1 + 8 * 25 + 1
    assert missing == []
    assert [e["seq"] for e in log.events()] == list(range(1, result.events + 1))
