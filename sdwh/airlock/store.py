"""Where requests live: ``$SDWH_HOME/airlock/airlock.sqlite`` and one folder per request.

The researcher's files are copied into ``requests/<id>/files/`` when the request is created,
so what checkers review (and what is released) cannot change behind their back.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sdwh.airlock.model import Request
from sdwh.errors import SdwhError

_SCHEMA = """
create table if not exists requests (
    id text primary key,
    project_id text not null,
    author text not null,
    state text not null,
    doc text not null,
    created_at text not null,
    updated_at text not null
);
create index if not exists requests_project on requests(project_id);
create table if not exists transitions (
    seq integer primary key autoincrement,
    request_id text not null,
    action text not null,
    from_state text,
    to_state text not null,
    actor text not null,
    at text not null,
    details text not null
);
"""


class Store:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / "airlock.sqlite"

    def request_dir(self, request_id: str) -> Path:
        return self.root / "requests" / request_id

    def files_dir(self, request_id: str) -> Path:
        return self.request_dir(request_id) / "files"

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            con.executescript(_SCHEMA)
            con.execute("begin immediate")
            yield con
            con.execute("commit")
        except BaseException:
            if con.in_transaction:
                con.execute("rollback")
            raise
        finally:
            con.close()

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection | None]:
        if not self.path.exists():
            yield None
            return
        con = sqlite3.connect(self.path, timeout=30)
        try:
            yield con
        finally:
            con.close()

    def load(self, con: sqlite3.Connection | None, request_id: str) -> Request:
        row = con.execute("select doc from requests where id = ?", (request_id,)).fetchone() \
            if con is not None else None
        if row is None:
            raise SdwhError(f"There is no export request {request_id!r}.",
                            "List requests with `sdwh airlock list`.")
        return Request.model_validate_json(row[0])

    def get(self, request_id: str) -> Request:
        with self.reading() as con:
            return self.load(con, request_id)

    def all(self, project_id: str | None = None) -> list[Request]:
        with self.reading() as con:
            if con is None:
                return []
            if project_id:
                rows = con.execute("select doc from requests where project_id = ? order by "
                                   "created_at, id", (project_id,)).fetchall()
            else:
                rows = con.execute("select doc from requests order by created_at, id").fetchall()
        return [Request.model_validate_json(r[0]) for r in rows]

    def save(self, con: sqlite3.Connection, request: Request, now: str) -> None:
        con.execute(
            "insert into requests (id, project_id, author, state, doc, created_at, updated_at) "
            "values (?, ?, ?, ?, ?, ?, ?) on conflict(id) do update set state = excluded.state, "
            "doc = excluded.doc, updated_at = excluded.updated_at",
            (request.id, request.project_id, request.author, request.state.value,
             request.model_dump_json(), request.created_at.isoformat(), now))

    def record(self, con: sqlite3.Connection, request_id: str, action: str,
               from_state: str | None, to_state: str, actor: str, now: str,
               details: dict[str, Any]) -> None:
        con.execute("insert into transitions (request_id, action, from_state, to_state, actor, "
                    "at, details) values (?, ?, ?, ?, ?, ?, ?)",
                    (request_id, action, from_state, to_state, actor, now,
                     json.dumps(details, sort_keys=True, default=str)))

    def history(self, request_id: str) -> list[dict[str, Any]]:
        with self.reading() as con:
            if con is None:
                return []
            rows = con.execute("select action, from_state, to_state, actor, at, details from "
                               "transitions where request_id = ? order by seq",
                               (request_id,)).fetchall()
        return [{"action": a, "from": f, "to": t, "actor": who, "at": at,
                 "details": json.loads(d)} for a, f, t, who, at, d in rows]

    def next_id(self, con: sqlite3.Connection, project_id: str) -> str:
        n = con.execute("select count(*) from requests where project_id = ?",
                        (project_id,)).fetchone()[0]
        return f"{project_id}-r{n + 1}"
