"""The audit log's hash chain: appends link up, and any change, insertion or cut is detected."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from multiprocessing import Pool
from pathlib import Path

import pytest

from sdwh.audit.log import AuditLog
from sdwh.audit.spool import collect, write_spool


def _log(tmp_path: Path) -> AuditLog:
    return AuditLog(tmp_path / "audit" / "audit.jsonl")


def _lines(log: AuditLog) -> list[str]:
    return log.path.read_text().splitlines()


def _rewrite(log: AuditLog, lines: list[str]) -> None:
    log.path.write_text("".join(line + "\n" for line in lines))


def test_appends_form_a_chain_that_verifies(tmp_path: Path) -> None:
    log = _log(tmp_path)
    first = log.append("project.created", "alice", project="p-1")
    second = log.append("hub.login", "bob", mfa=True)
    assert (first["seq"], second["seq"]) == (1, 2)
    assert second["prev"] == first["hash"]
    result = log.verify()
    assert result.ok and result.events == 2
    assert oct(log.path.stat().st_mode & 0o777) == "0o600"
    assert [e["event"] for e in log.events("hub.")] == ["hub.login"]
def test_a_batch_continues_the_chain_like_single_appends(tmp_path: Path) -> None:
    log = _log(tmp_path)
    log.append("hub.login", "bob")
    batch = log.append_many([("api.query", "svc-a", {"rows": 3}), ("api.query", "svc-b", {})])
    after = log.append("hub.logout", "bob")
    assert [r["seq"] for r in batch] == [2, 3] and after["seq"] == 4
    assert batch[1]["prev"] == batch[0]["hash"] and after["prev"] == batch[1]["hash"]
    assert log.verify().ok and log.verify().events == 4
    assert log.append_many([]) == []
    with pytest.raises(Exception, match="needs an event name"):
        log.append_many([("api.query", "", {})])
    assert log.verify().events == 4  # a refused batch writes nothing




def test_a_changed_detail_is_detected_at_its_record(tmp_path: Path) -> None:
    log = _log(tmp_path)
    for n in range(5):
        log.append("enclave.query", "carol", n=n)
    lines = _lines(log)
    record = json.loads(lines[2])
    record["actor"] = "mallory"
    lines[2] = json.dumps(record)
    _rewrite(log, lines)
    result = log.verify()
    assert not result.ok and result.first_bad_seq == 3
    assert "hash" in result.reason


def test_a_removed_middle_record_is_detected(tmp_path: Path) -> None:
    log = _log(tmp_path)
    for n in range(4):
        log.append("enclave.query", "carol", n=n)
    lines = _lines(log)
    _rewrite(log, lines[:1] + lines[2:])
    result = log.verify()
    assert not result.ok and result.first_bad_seq == 2


def test_a_cut_off_tail_is_detected_through_the_head(tmp_path: Path) -> None:
    log = _log(tmp_path)
    for n in range(4):
        log.append("enclave.query", "carol", n=n)
    _rewrite(log, _lines(log)[:3])
    result = log.verify()
    assert not result.ok and "removed from the end" in result.reason


def test_a_rehashed_forgery_still_breaks_the_links(tmp_path: Path) -> None:
    """Re-hashing a changed record is not enough: the next record points at the old hash."""
    from sdwh.audit.chain import record_hash

    log = _log(tmp_path)
    for n in range(3):
        log.append("enclave.query", "carol", n=n)
    lines = _lines(log)
    record = json.loads(lines[0])
    record["details"]["n"] = 99
    record["hash"] = record_hash(record)
    lines[0] = json.dumps(record)
    _rewrite(log, lines)
    result = log.verify()
    assert not result.ok and result.first_bad_seq == 2


def _append_many(args: tuple[str, int]) -> None:
    path, worker = args
    log = AuditLog(Path(path))
    for n in range(50):
        log.append("load.test", f"worker-{worker}", n=n)


def test_concurrent_writers_keep_one_unbroken_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit" / "audit.jsonl"
    with Pool(4) as pool:
        pool.map(_append_many, [(str(path), w) for w in range(4)])
    result = AuditLog(path).verify()
    assert result.ok and result.events == 200


def test_spooled_events_are_collected_once_under_the_session_owner(tmp_path: Path) -> None:
    log = _log(tmp_path)
    spool = tmp_path / "spool"
    spool.mkdir()
    write_spool(spool, "enclave.query", sql="select 1")
    write_spool(spool, "enclave.query", sql="select 2")
    (spool / "events.jsonl").open("a").write('{"event": "enclave.query", "det')  # half a line
    assert collect(spool, log, actor="dave") == 2
    assert collect(spool, log, actor="dave") == 0
    events = list(log.events())
    assert [e["details"]["sql"] for e in events] == ["select 1", "select 2"]
    assert all(e["actor"] == "dave" and e["details"]["spooled"] for e in events)
    assert log.verify().ok


@pytest.mark.parametrize("tamper", [False, True])
def test_cli_verify_reports_and_exits_by_result(tmp_path: Path, tamper: bool) -> None:
    env = {**os.environ, "SDWH_HOME": str(tmp_path)}
    log = AuditLog(tmp_path / "audit" / "audit.jsonl")
    log.append("hub.login", "erin")
    log.append("hub.spawn", "erin", server="p-1")
    if tamper:
        lines = _lines(log)
        _rewrite(log, [lines[0].replace("erin", "eve"), lines[1]])
    run = subprocess.run([sys.executable, "-m", "sdwh", "audit", "verify", "--json"],
                         capture_output=True, text=True, env=env, check=False)
    payload = json.loads(run.stdout)
    assert payload["ok"] is (not tamper)
    assert run.returncode == (1 if tamper else 0)
