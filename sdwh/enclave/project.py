"""The researcher's helper inside the enclave: ``from sdwh.enclave import project``.

* ``project.sql("select …")`` → a pandas DataFrame computed on the project's read-only,
  frozen extract (an in-memory DuckDB whose only reachable files are the extract's Parquet
  files). Every query, successful or not, is audited.
* ``project.tables()`` → the extract's tables with their rows and columns.
* ``project.save_table(df, "outputs/t.csv")`` → writes the table and a sidecar
  ``t.csv.sdwh-query.json`` holding the query that produced it, so the output checker can
  re-run it and count distinct persons per cell.
* ``project.request_export([...], description=…, how_produced=…, units=…, population=…)`` →
  asks for files to leave the enclave through the airlock (output checking).

Inside a single-user server the spawner sets ``SDWH_PROJECT_ID``, ``SDWH_PROJECT_EXTRACT``
(the extract folder, mounted read-only), ``SDWH_AUDIT_SPOOL`` (where query events go) and
``SDWH_AIRLOCK_OUTBOX`` (where export requests are staged for the hub to collect). Outside
the hub (VSA staff, tests) the project's current extract is found through the registry and
events go straight to the audit log.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from sdwh.errors import SdwhError

SIDECAR_SUFFIX = ".sdwh-query.json"
_session: _Session | None = None


class _Session:
    """The open extract of this kernel: connection, manifest and where events go."""

    def __init__(self) -> None:
        self.user = os.environ.get("JUPYTERHUB_USER") or getpass.getuser()
        extract = os.environ.get("SDWH_PROJECT_EXTRACT")
        project_id = os.environ.get("SDWH_PROJECT_ID")
        if not extract:
            if not project_id:
                raise SdwhError("This session has no project.",
                                "Start the notebook from your project's server in the hub "
                                "(or set SDWH_PROJECT_ID).")
            from sdwh.config import get_settings
            from sdwh.projects.registry import Registry

            found = Registry(get_settings()).current_extract(project_id)
            if found is None:
                raise SdwhError(f"Project {project_id} has no extract yet.",
                                "Ask VSA staff to run `sdwh project extract`.")
            extract = str(found)
        from sdwh.projects.access import open_extract

        self.con, self.manifest = open_extract(Path(extract))
        self.extract = Path(extract).resolve()
        self.project_id = project_id or self.manifest["project"]
        self.extract_id = self.manifest["extract_id"]

    def audit(self, event: str, **details: Any) -> None:
        details = {"project": self.project_id, "extract_id": self.extract_id, **details}
        spool = os.environ.get("SDWH_AUDIT_SPOOL")
        if spool:
            from sdwh.audit.spool import write_spool

            write_spool(spool, event, **details)
        else:
            from sdwh.audit.log import audit_log
            from sdwh.config import get_settings

            audit_log(get_settings()).append(event, self.user, **details)


def _current() -> _Session:
    global _session
    if _session is None:
        _session = _Session()
    return _session


def reset() -> None:
    """Forget the open extract (the next call opens it again from the environment)."""
    global _session
    if _session is not None:
        _session.con.close()
    _session = None


def sql(query: str) -> pd.DataFrame:
    """Run ``query`` on the project's extract and return the result as a DataFrame."""
    session = _current()
    started = time.perf_counter()
    try:
        df = session.con.execute(query).df()
    except duckdb.Error as err:
        message = str(err).splitlines()[0]
        session.audit("enclave.query", query=query, ok=False, error=message[:500])
        raise SdwhError(f"The query failed: {message}",
                        "Tables: " + ", ".join(session.manifest["tables"])) from None
    session.audit("enclave.query", query=query, ok=True, rows=len(df),
                  seconds=round(time.perf_counter() - started, 3))
    df.attrs["sdwh_query"] = query
    df.attrs["sdwh_extract_id"] = session.extract_id
    df.attrs["sdwh_result_sha256"] = frame_sha256(df)
    return df


def tables() -> pd.DataFrame:
    """The extract's tables: name, rows, distinct persons, columns."""
    manifest = _current().manifest
    return pd.DataFrame([{"table": name, "rows": t["rows"], "persons": t["persons"],
                          "columns": ", ".join(t["columns"])}
                         for name, t in manifest["tables"].items()])


def info() -> dict[str, Any]:
    """Which project and extract this session reads, and the extract's risk summary."""
    s = _current()
    return {"project": s.project_id, "extract_id": s.extract_id, "user": s.user,
            "created_at": s.manifest["created_at"], "period": (
                s.manifest["authorisation"]["period_from"],
                s.manifest["authorisation"]["period_to"]),
            "risk_summary": s.manifest["risk_report"]["summary"]}


def frame_sha256(df: pd.DataFrame) -> str:
    """Content hash of a table (values and column names, not the index)."""
    digest = hashlib.sha256(json.dumps([str(c) for c in df.columns]).encode())
    digest.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def save_table(df: pd.DataFrame, path: str | os.PathLike[str], query: str | None = None
               ) -> Path:
    """Write ``df`` as CSV or Parquet (by extension) plus the sidecar with its query.

    ``query`` defaults to the one ``project.sql`` attached to ``df``. A table changed after
    the query (rounded, cells suppressed) is marked ``modified``; the checker then compares
    the published cells with the re-run query's true contributors.
    """
    target = Path(path)
    if target.suffix.lower() not in (".csv", ".parquet"):
        raise SdwhError(f"{target.name}: save tables as .csv or .parquet.",
                        "Graphs and text are exported as they are, without save_table.")
    query = query or df.attrs.get("sdwh_query")
    if not query:
        raise SdwhError("This table carries no query.",
                        "Compute it with project.sql(...) or pass query='select …'.")
    session = _current()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    if target.suffix.lower() == ".csv":
        df.to_csv(tmp, index=False)
    else:
        df.to_parquet(tmp, index=False)
    os.replace(tmp, target)
    sidecar = {
        "query": query, "project": session.project_id,
        "extract_id": df.attrs.get("sdwh_extract_id", session.extract_id),
        "file": target.name, "file_sha256": _file_sha256(target), "rows": len(df),
        "columns": [str(c) for c in df.columns],
        "modified": df.attrs.get("sdwh_result_sha256") != frame_sha256(df),
        "saved_by": session.user, "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    side = target.with_name(target.name + SIDECAR_SUFFIX)
    side_tmp = side.with_name(f".{side.name}.tmp")
    side_tmp.write_text(json.dumps(sidecar, indent=2, sort_keys=True) + "\n")
    os.replace(side_tmp, side)
    return target


def request_export(paths: Sequence[str | os.PathLike[str]], *, description: str,
                   how_produced: str, units: str, population: str) -> dict[str, Any]:
    """Ask for ``paths`` (files in your workspace) to be released through the airlock.

    Give checkers the context they need: what the outputs show (``description``), how they
    were produced (``how_produced``), the units counted (``units``, e.g. "persons") and the
    population (``population``, e.g. "residents of Flanders aged 18-24, 2024Q1-2025Q4").
    Returns the request (or, inside the hub, the staged submission) with its checks.
    """
    from sdwh.airlock.intake import make_context, stage_submission

    session = _current()
    workspace = Path(os.environ.get("SDWH_WORKSPACE") or Path.cwd())
    context = dict(description=description, how_produced=how_produced, units=units,
                   population=population)
    outbox = os.environ.get("SDWH_AIRLOCK_OUTBOX")
    if outbox:
        staged = stage_submission(Path(outbox), workspace, [Path(p) for p in paths],
                                  make_context(**context), project_id=session.project_id,
                                  author=session.user)
        session.audit("airlock.staged", submission=staged["submission"],
                      files=[f["name"] for f in staged["files"]])
        return staged
    from sdwh.airlock.service import AirlockService
    from sdwh.config import get_settings

    service = AirlockService(get_settings())
    request = service.create_request(session.project_id, session.user, workspace,
                                     [Path(p) for p in paths], context)
    return service.submit(request.id, session.user).view_for(session.user)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
