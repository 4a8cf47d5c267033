"""The data-error register: reports on published datasets, their review and their fix.

SQLite under $SDWH_HOME/feedback. A report is ``open`` until VSA staff mark it ``rejected``
(with a reason) or ``fixed`` — and a fix must name the release whose revision record holds
the corrected values of that dataset, so every fix links to a revision.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sdwh.errors import SdwhError
from sdwh.publish.indicators import INDICATORS

SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    id           INTEGER PRIMARY KEY,
    dataset      TEXT NOT NULL,
    variable     TEXT,
    quarter      TEXT,
    description  TEXT NOT NULL,
    reporter     TEXT,
    status       TEXT NOT NULL CHECK (status IN ('open', 'rejected', 'fixed')),
    reported_at  TEXT NOT NULL,
    closed_at    TEXT,
    fixed_in     TEXT,
    note         TEXT
);
"""
QUARTER = re.compile(r"^\d{4}Q[1-4]$")


@contextmanager
def open_register(root: Path) -> Iterator[sqlite3.Connection]:
    path = root / "feedback" / "errors.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=30, isolation_level=None)
    con.row_factory = sqlite3.Row
    try:
        con.executescript(SCHEMA)
        yield con
    finally:
        con.close()


def report(con: sqlite3.Connection, dataset: str, description: str, variable: str | None = None,
           quarter: str | None = None, reporter: str | None = None) -> dict[str, Any]:
    """Store a new report after checking it names a published dataset."""
    known = {i.id for i in INDICATORS}
    if dataset not in known:
        raise SdwhError(f"'{dataset}' is not a published dataset.",
                        f"Choose one of: {', '.join(sorted(known))}.")
    if len(description.strip()) < 10:
        raise SdwhError("the description is too short to act on.",
                        "Say what is wrong, where (variable, quarter, area) and why you think so.")
    if quarter and not QUARTER.match(quarter):
        raise SdwhError(f"quarter '{quarter}' is not like 2025Q4.", "Use YYYYQn.")
    cur = con.execute(
        "INSERT INTO reports (dataset, variable, quarter, description, reporter, status, "
        "reported_at) VALUES (?, ?, ?, ?, ?, 'open', ?)",
        (dataset, variable or None, quarter or None, description.strip(), reporter or None,
         _now()))
    return get(con, int(cur.lastrowid))


def get(con: sqlite3.Connection, report_id: int) -> dict[str, Any]:
    row = con.execute("SELECT * FROM reports WHERE id = ?", (report_id,)).fetchone()
    if row is None:
        raise SdwhError(f"there is no error report {report_id}.",
                        "List reports with `sdwh feedback list`.")
    return dict(row)


def listing(con: sqlite3.Connection, dataset: str | None = None) -> list[dict[str, Any]]:
    sql, args = "SELECT * FROM reports", ()
    if dataset:
        sql, args = sql + " WHERE dataset = ?", (dataset,)
    return [dict(r) for r in con.execute(sql + " ORDER BY dataset, id", args).fetchall()]


def per_dataset(con: sqlite3.Connection) -> dict[str, dict[str, int]]:
    out = {i.id: {"open": 0, "rejected": 0, "fixed": 0} for i in INDICATORS}
    for r in con.execute("SELECT dataset, status, count(*) n FROM reports GROUP BY 1, 2"):
        out.setdefault(r["dataset"], {"open": 0, "rejected": 0, "fixed": 0})[r["status"]] = r["n"]
    return out


def close(con: sqlite3.Connection, report_id: int, status: str, note: str,
          release: str | None, releases_root: Path) -> dict[str, Any]:
    """Reject, or mark fixed by ``release`` — whose revision record must touch the dataset."""
    current = get(con, report_id)
    if current["status"] != "open":
        raise SdwhError(f"report {report_id} is already {current['status']}.",
                        "Only open reports can be closed.")
    if status == "fixed":
        revisions = releases_root / (release or "") / "revisions.json"
        if not release or not revisions.is_file():
            raise SdwhError(f"release {release} does not exist.",
                            "Publish the corrected data first (`sdwh publish`), then link it.")
        changes = [c for c in json.loads(revisions.read_text())
                   if c["indicator"] == current["dataset"]
                   and (not current["quarter"] or c["quarter"] == current["quarter"])]
        if not changes:
            raise SdwhError(f"release {release} revised nothing in {current['dataset']}"
                            + (f" for {current['quarter']}" if current["quarter"] else "") + ".",
                            "A fix must be a revision: link the release that corrected it.")
        note = f"{note} ({len(changes)} revised values)".strip()
    con.execute("UPDATE reports SET status = ?, closed_at = ?, fixed_in = ?, note = ? "
                "WHERE id = ?", (status, _now(), release if status == "fixed" else None, note,
                                report_id))
    return get(con, report_id)


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()
