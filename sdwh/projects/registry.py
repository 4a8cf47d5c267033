"""The project registry: projects and their authorisations in SQLite, every change audited.

``$SDWH_HOME/projects/registry.sqlite`` holds one row per project (its JSON document) and one
row per transition. A change is stored and its audit event appended inside one SQLite
transaction: if the audit append fails, the change is rolled back, so the registry never holds
a change the audit log does not show.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sdwh.audit.log import AuditLog, audit_log
from sdwh.config import Settings
from sdwh.errors import SdwhError
from sdwh.projects.datasets import check_authorisation
from sdwh.projects.model import Project, ProjectState
from sdwh.projects.states import Change, ProjectAction, apply

_SCHEMA = """
create table if not exists projects (
    id text primary key,
    state text not null,
    doc text not null,
    updated_at text not null
);
create table if not exists transitions (
    seq integer primary key autoincrement,
    project_id text not null references projects(id),
    action text not null,
    from_state text,
    to_state text not null,
    actor text not null,
    at text not null,
    details text not null
);
"""


def _now() -> datetime:
    return datetime.now(UTC)


def projects_dir(settings: Settings) -> Path:
    return settings.root / "projects"


def project_dir(settings: Settings, project_id: str) -> Path:
    return projects_dir(settings) / project_id


class Registry:
    """Read and change research projects. Every change writes one audit event."""

    def __init__(self, settings: Settings, log: AuditLog | None = None) -> None:
        self.settings = settings
        self.path = projects_dir(settings) / "registry.sqlite"
        self._log = log

    @property
    def log(self) -> AuditLog:
        if self._log is None:
            self._log = audit_log(self.settings)
        return self._log

    @contextmanager
    def _connect(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        if not self.path.exists():
            if not write:
                yield sqlite3.connect(":memory:")  # no registry yet: nothing to read
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(self.path.parent, 0o755)
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            if write:
                con.executescript(_SCHEMA)
                con.execute("begin immediate")
            yield con
            if write:
                con.execute("commit")
        except BaseException:
            if write and con.in_transaction:
                con.execute("rollback")
            raise
        finally:
            con.close()

    # ------------------------------------------------------------------ reading

    def list(self, state: ProjectState | None = None) -> list[Project]:
        with self._connect() as con:
            if not _has_table(con):
                return []
            rows = con.execute("select doc from projects order by id").fetchall()
        projects = [Project.model_validate_json(r[0]) for r in rows]
        return [p for p in projects if state is None or p.state is state]

    def find(self, project_id: str) -> Project | None:
        with self._connect() as con:
            if not _has_table(con):
                return None
            row = con.execute("select doc from projects where id = ?", (project_id,)).fetchone()
        return Project.model_validate_json(row[0]) if row else None

    def get(self, project_id: str) -> Project:
        """The project ``project_id``; a clear error if there is none."""
        project = self.find(project_id)
        if project is None:
            raise SdwhError(f"There is no project {project_id!r}.",
                            "List projects with `sdwh project list`.")
        return project

    def active_projects_for(self, username: str, on: date) -> list[Project]:
        """Projects ``username`` may use on ``on``: active, granted, within start..end."""
        return [p for p in self.list(ProjectState.ACTIVE)
                if username in p.researchers and p.usable_on(on)]

    def history(self, project_id: str) -> list[dict[str, Any]]:
        with self._connect() as con:
            if not _has_table(con):
                return []
            rows = con.execute(
                "select seq, action, from_state, to_state, actor, at, details from transitions "
                "where project_id = ? order by seq", (project_id,)).fetchall()
        return [{"seq": s, "action": a, "from": f, "to": t, "actor": who, "at": at,
                 "details": json.loads(d)} for s, a, f, t, who, at, d in rows]

    def current_extract(self, project_id: str) -> Path | None:
        """The directory of the project's current frozen extract, or None before the first."""
        link = project_dir(self.settings, project_id) / "extracts" / "current"
        if not link.is_symlink():
            return None
        target = link.resolve()
        return target if (target / "extract.json").is_file() else None

    # ------------------------------------------------------------------ changing

    def create(self, actor: str, **fields: Any) -> Project:
        """Record a requested project (state ``requested``); audit ``project.requested``."""
        try:
            project = Project(requested_by=actor, created_at=_now(),
                              state=ProjectState.REQUESTED, researchers=[], revoked=[], **fields)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(x) for x in first["loc"]) or "project"
            raise SdwhError(f"Invalid project authorisation: {where}: "
                            f"{first['msg'].removeprefix('Value error, ')}.",
                            "Correct the value and run the command again.") from None
        _check_variables(project)
        with self._connect(write=True) as con:
            if con.execute("select 1 from projects where id = ?", (project.id,)).fetchone():
                raise SdwhError(f"Project {project.id} already exists.",
                                "Choose another id, or see it with `sdwh project show`.")
            self._store(con, project)
            self._record(con, project, "create", None, actor, {})
            self.log.append("project.requested", actor, project=project.id,
                            organisation=project.organisation, datasets=project.datasets,
                            period=f"{project.period_from}-{project.period_to}",
                            start_date=str(project.start_date), end_date=str(project.end_date))
        return project

    def change(self, project_id: str, action: ProjectAction, actor: str,
               now: datetime | None = None, **kwargs: Any) -> Project:
        """Apply one state-machine action and audit it; forbidden actions raise SdwhError."""
        with self._connect(write=True) as con:
            row = con.execute("select doc from projects where id = ?", (project_id,)).fetchone()
            if row is None:
                raise SdwhError(f"There is no project {project_id!r}.",
                                "List projects with `sdwh project list`.")
            project = Project.model_validate_json(row[0])
            change = apply(project, action, actor=actor, now=now or _now(), **kwargs)
            self._store(con, change.project)
            self._record(con, change.project, action.value, change.from_state.value, actor,
                         change.details)
            self._audit(change, actor)
        return change.project

    def approve(self, project_id: str, actor: str, deliberation_ref: str | None = None
                ) -> Project:
        return self.change(project_id, ProjectAction.APPROVE, actor,
                           deliberation_ref=deliberation_ref)

    def activate(self, project_id: str, actor: str) -> Project:
        return self.change(project_id, ProjectAction.ACTIVATE, actor)

    def grant(self, project_id: str, username: str, actor: str) -> Project:
        return self.change(project_id, ProjectAction.GRANT, actor, username=username)

    def revoke(self, project_id: str, username: str, actor: str, reason: str = "") -> Project:
        return self.change(project_id, ProjectAction.REVOKE, actor, username=username,
                           reason=reason)

    def close(self, project_id: str, actor: str, reason: str) -> Project:
        return self.change(project_id, ProjectAction.CLOSE, actor, reason=reason)

    def expire_due(self, on: date | None = None, actor: str = "system") -> list[Project]:
        """Move every active project whose end date has passed to ``expired``."""
        now = _now() if on is None else datetime.combine(on, datetime.min.time(), UTC)
        due = [p for p in self.list(ProjectState.ACTIVE) if now.date() > p.end_date]
        return [self.change(p.id, ProjectAction.EXPIRE, actor, now=now) for p in due]

    # ------------------------------------------------------------------ internals

    def _store(self, con: sqlite3.Connection, project: Project) -> None:
        con.execute("insert into projects (id, state, doc, updated_at) values (?, ?, ?, ?) "
                    "on conflict(id) do update set state = excluded.state, doc = excluded.doc, "
                    "updated_at = excluded.updated_at",
                    (project.id, project.state.value, project.model_dump_json(),
                     _now().isoformat()))

    def _record(self, con: sqlite3.Connection, project: Project, action: str,
                from_state: str | None, actor: str, details: dict[str, str]) -> None:
        con.execute("insert into transitions (project_id, action, from_state, to_state, actor, "
                    "at, details) values (?, ?, ?, ?, ?, ?, ?)",
                    (project.id, action, from_state, project.state.value, actor,
                     _now().isoformat(), json.dumps(details, sort_keys=True)))

    def _audit(self, change: Change, actor: str) -> None:
        self.log.append(change.event, actor, project=change.project.id,
                        from_state=change.from_state.value, to_state=change.project.state.value,
                        **change.details)


def _has_table(con: sqlite3.Connection) -> bool:
    return con.execute("select 1 from sqlite_master where name = 'projects'").fetchone() is not None


def _check_variables(project: Project) -> None:
    """Datasets and variables must exist in the thematic layer's contract."""
    check_authorisation(project.datasets, project.variables)
