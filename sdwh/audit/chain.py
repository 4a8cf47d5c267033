"""Pure hash-chain rules of the audit log, apart from any file handling.

Each record carries the hash of the record before it (``prev``) and its own ``hash`` over its
canonical JSON, so changing, inserting or removing any line breaks the chain from that line on.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

GENESIS = "0" * 64
FIELDS = ("seq", "at", "event", "actor", "details", "prev")


def canonical(record: dict[str, Any]) -> bytes:
    """The bytes that are hashed: the record's fields (not its hash) as sorted, compact JSON."""
    body = {name: record[name] for name in FIELDS}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode()


def record_hash(record: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(record)).hexdigest()


def new_record(seq: int, at: str, event: str, actor: str, details: dict[str, Any],
               prev: str) -> dict[str, Any]:
    """A sealed record that follows ``prev``; details are normalised through JSON first."""
    plain = json.loads(json.dumps(details, default=str))
    record = {"seq": seq, "at": at, "event": event, "actor": actor, "details": plain,
              "prev": prev}
    record["hash"] = record_hash(record)
    return record


def check_link(record: dict[str, Any], expected_seq: int, expected_prev: str) -> str | None:
    """Why ``record`` does not follow the chain (``None`` when it does)."""
    missing = [name for name in (*FIELDS, "hash") if name not in record]
    if missing:
        return f"record lacks {', '.join(missing)}"
    if record["seq"] != expected_seq:
        return f"sequence number {record['seq']} where {expected_seq} was expected"
    if record["prev"] != expected_prev:
        return "its link to the previous record does not match (a record was changed or removed)"
    if record_hash(record) != record["hash"]:
        return "its content does not match its hash (the record was changed)"
    return None
