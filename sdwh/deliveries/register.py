"""The delivery register: every delivery seen, its fate, timing and row accounting.

SQLite (standard library, transactional, many readers): a delivery counts as ingested only
once its row is committed here, so the register is the commit point of the landing zone.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    delivery_id       TEXT PRIMARY KEY,
    supplier          TEXT NOT NULL,
    dataset           TEXT NOT NULL,
    reference_period  TEXT NOT NULL,
    revision          INTEGER NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('accepted', 'rejected', 'superseded')),
    sent_at           TEXT NOT NULL,
    arrived_at        TEXT NOT NULL,
    ingested_at       TEXT NOT NULL,
    period_end        TEXT NOT NULL,
    due_days          INTEGER NOT NULL,
    lag_days          REAL NOT NULL,
    rows_in           INTEGER NOT NULL,
    rows_accepted     INTEGER NOT NULL,
    rows_quarantined  INTEGER NOT NULL,
    reject_rule       TEXT,
    reject_message    TEXT,
    superseded_by     TEXT,
    key_id            TEXT,
    landing_path      TEXT NOT NULL,
    raw_path          TEXT,
    quarantine_path   TEXT,
    CHECK (status = 'rejected' OR rows_in = rows_accepted + rows_quarantined)
);
CREATE INDEX IF NOT EXISTS deliveries_by_period
    ON deliveries (supplier, dataset, reference_period);
CREATE TABLE IF NOT EXISTS quarantine_reasons (
    delivery_id  TEXT NOT NULL REFERENCES deliveries (delivery_id),
    field        TEXT NOT NULL,
    rule         TEXT NOT NULL,
    rows         INTEGER NOT NULL,
    PRIMARY KEY (delivery_id, field, rule)
);
"""

COLUMNS = (
    "delivery_id", "supplier", "dataset", "reference_period", "revision", "status", "sent_at",
    "arrived_at", "ingested_at", "period_end", "due_days", "lag_days", "rows_in",
    "rows_accepted", "rows_quarantined", "reject_rule", "reject_message", "superseded_by",
    "key_id", "landing_path", "raw_path", "quarantine_path",
)


@contextmanager
def open_register(path: Path) -> Iterator[sqlite3.Connection]:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=30, isolation_level=None)
    con.row_factory = sqlite3.Row
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.executescript(SCHEMA)
        yield con
    finally:
        con.close()


def find(con: sqlite3.Connection, delivery_id: str) -> dict[str, Any] | None:
    row = con.execute("SELECT * FROM deliveries WHERE delivery_id = ?", (delivery_id,)).fetchone()
    return dict(row) if row else None


def current_for_period(con: sqlite3.Connection, supplier: str, dataset: str,
                       period: str) -> dict[str, Any] | None:
    """The accepted, not superseded delivery of a supplier dataset for a period."""
    row = con.execute(
        "SELECT * FROM deliveries WHERE supplier = ? AND dataset = ? AND reference_period = ? "
        "AND status = 'accepted'", (supplier, dataset, period)).fetchone()
    return dict(row) if row else None


def record(con: sqlite3.Connection, entry: dict[str, Any], reasons: list[tuple[str, str, int]],
           supersede: str | None = None) -> None:
    """Insert a delivery (and mark the one it replaces superseded) in one transaction."""
    con.execute("BEGIN IMMEDIATE")
    try:
        if supersede:
            con.execute("UPDATE deliveries SET status = 'superseded', superseded_by = ? "
                        "WHERE delivery_id = ?", (entry["delivery_id"], supersede))
        con.execute(
            f"INSERT INTO deliveries ({', '.join(COLUMNS)}) VALUES "
            f"({', '.join('?' for _ in COLUMNS)})", [entry.get(c) for c in COLUMNS])
        con.executemany("INSERT INTO quarantine_reasons VALUES (?, ?, ?, ?)",
                        [(entry["delivery_id"], f, r, n) for f, r, n in reasons])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def all_deliveries(con: sqlite3.Connection) -> list[dict[str, Any]]:
    rows = con.execute("SELECT * FROM deliveries ORDER BY supplier, dataset, reference_period, "
                       "revision, sent_at").fetchall()
    return [dict(r) for r in rows]


def reasons_for(con: sqlite3.Connection) -> list[dict[str, Any]]:
    rows = con.execute("SELECT q.*, d.supplier, d.dataset FROM quarantine_reasons q JOIN "
                       "deliveries d USING (delivery_id) ORDER BY d.supplier, d.dataset, "
                       "q.rule").fetchall()
    return [dict(r) for r in rows]
