"""Frozen project extracts: the approved slice of the thematic layer under project pseudonyms.

``make_extract`` reads the warehouse read-only and writes, for every approved dataset, one
Parquet file with only the approved columns, quarters and population, the person id replaced
by HMAC(project key, warehouse pseudonym). The extract gets a version id (v1, v2, …), a
manifest with each file's SHA-256 and a microdata risk report from ``disclosure/``; it is
written to a temporary folder, made read-only (files 0444, folders 0555) and renamed into
place, then ``extracts/current`` is switched to it. A crash leaves the previous extract.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from sdwh.audit.log import audit_log
from sdwh.config import Settings
from sdwh.errors import SdwhError
from sdwh.projects.datasets import (
    PERSON_COLUMN,
    QUASI_IDENTIFIERS,
    period_column,
    selected_columns,
)
from sdwh.projects.keys import key_id, project_key
from sdwh.projects.model import Project, ProjectState
from sdwh.projects.population import check_population, columns_of
from sdwh.projects.registry import Registry, project_dir
from sdwh.ttp.pseudonym import hmac_sql
from sdwh.warehouse.project import warehouse_paths

MANIFEST = "extract.json"
RISK_REPORT = "risk_report.json"
EXTRACTABLE = (ProjectState.APPROVED, ProjectState.ACTIVE)


def extracts_dir(settings: Settings, project_id: str) -> Path:
    return project_dir(settings, project_id) / "extracts"


def make_extract(settings: Settings, project_id: str, actor: str,
                 warehouse: Path | None = None, progress: bool = False) -> dict[str, Any]:
    """Freeze a new extract of ``project_id``; returns its manifest (also in extract.json)."""
    started = time.perf_counter()
    registry = Registry(settings)
    project = registry.get(project_id)
    if project.state not in EXTRACTABLE:
        raise SdwhError(f"Project {project_id} is {project.state.value}; only approved or "
                        "active projects get extracts.", "See `sdwh project show "
                        f"{project_id}`.")
    database = warehouse or warehouse_paths(settings).database
    key = project_key(settings, project_id)
    root = extracts_dir(settings, project_id)
    root.mkdir(parents=True, exist_ok=True)
    with _project_lock(root):
        extract_id = _next_id(root)
        tmp = root / f".tmp-{extract_id}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            with _open_warehouse(database, settings) as con:
                tables = {}
                for dataset in project.datasets:
                    _say(progress, f"extracting {dataset} …")
                    tables[dataset] = _extract_table(con, project, dataset, key, tmp)
            _say(progress, "measuring microdata risk …")
            risk = risk_report(tmp, tables)
            _write_json(tmp / RISK_REPORT, risk)
            manifest = {
                "project": project_id, "extract_id": extract_id,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "created_by": actor, "key_id": key_id(key),
                "warehouse": _warehouse_state(database),
                "authorisation": {
                    "datasets": project.datasets, "variables": project.variables,
                    "period_from": project.period_from, "period_to": project.period_to,
                    "population": project.population,
                    "deliberation_ref": project.deliberation_ref},
                "tables": tables,
                "risk_report": {"file": RISK_REPORT, "sha256": _sha256(tmp / RISK_REPORT),
                                "summary": risk["summary"]},
            }
            _write_json(tmp / MANIFEST, manifest)
            _freeze(tmp)
            final = root / extract_id
            os.rename(tmp, final)
            _fsync_dir(root)
            _point_current(root, extract_id)
        except BaseException:
            _remove(tmp)
            raise
    seconds = round(time.perf_counter() - started, 2)
    audit_log(settings).append(
        "extract.created", actor, project=project_id, extract_id=extract_id,
        key_id=manifest["key_id"], tables={n: {"rows": t["rows"], "sha256": t["sha256"]}
                                           for n, t in tables.items()}, seconds=seconds)
    return manifest | {"path": str(final), "seconds": seconds}


def read_manifest(extract: Path) -> dict[str, Any]:
    path = extract / MANIFEST
    if not path.is_file():
        raise SdwhError(f"{extract} is not a project extract (no {MANIFEST}).",
                        "Create one with `sdwh project extract ID`.")
    return json.loads(path.read_text())


def verify_extract(extract: Path) -> list[str]:
    """Files whose SHA-256 no longer matches the manifest (empty: the extract is intact)."""
    manifest = read_manifest(extract)
    bad = [t["file"] for t in manifest["tables"].values()
           if _sha256(extract / t["file"]) != t["sha256"]]
    if _sha256(extract / RISK_REPORT) != manifest["risk_report"]["sha256"]:
        bad.append(RISK_REPORT)
    return bad


# ---------------------------------------------------------------------- one dataset


def _extract_table(con: duckdb.DuckDBPyConnection, project: Project, dataset: str,
                   key: bytes, out: Path) -> dict[str, Any]:
    available = _columns(con, dataset)
    columns = selected_columns(dataset, available, project.variables)
    missing = sorted({v.rpartition(".")[2] for v in project.variables
                      if v.rpartition(".")[0] == dataset} - set(available))
    if missing:
        raise SdwhError(f"The warehouse's {dataset} has no column {', '.join(missing)}.",
                        "Rebuild the warehouse (`sdwh build`) or amend the authorisation.")
    conditions = []
    period = period_column(available)
    if period:
        conditions.append(f'"{period}" between \'{project.period_from}\' and '
                          f"'{project.period_to}'")
    if project.population:
        used = columns_of(project.population)
        if used - set(available):
            raise SdwhError(f"The population condition uses {', '.join(sorted(used))}, but "
                            f"{dataset} has no {', '.join(sorted(used - set(available)))}.",
                            "Amend the population or the datasets of the authorisation.")
        conditions.append(f"({check_population(project.population, available)})")
    select = ", ".join(
        f"{hmac_sql(PERSON_COLUMN, key)} as {PERSON_COLUMN}" if c == PERSON_COLUMN else f'"{c}"'
        for c in columns)
    where = " and ".join(conditions) or "true"
    target = out / f"{dataset}.parquet"
    try:
        con.execute(f"copy (select {select} from thematic.{dataset} where {where}) to "
                    f"'{target}' (format parquet, compression zstd, row_group_size 500000)")
    except duckdb.Error as err:  # the SQL holds the key's pads: never show it
        raise SdwhError(f"Extracting {dataset} failed ({type(err).__name__}).",
                        "Check the warehouse with `sdwh build`; the statement is not shown "
                        "because it contains key material.") from None
    _fsync(target)
    rows, persons = con.execute(
        f"select count(*), count(distinct {PERSON_COLUMN}) from read_parquet('{target}')"
    ).fetchone()
    return {"file": target.name, "rows": int(rows), "persons": int(persons),
            "columns": columns, "period_column": period, "sha256": _sha256(target),
            "bytes": target.stat().st_size}


def _columns(con: duckdb.DuckDBPyConnection, dataset: str) -> list[str]:
    rows = con.execute("select column_name from information_schema.columns where "
                       "table_schema = 'thematic' and table_name = ? order by ordinal_position",
                       [dataset]).fetchall()
    if not rows:
        raise SdwhError(f"The warehouse has no thematic dataset {dataset}.",
                        "Build the warehouse first: `sdwh build`.")
    return [r[0] for r in rows]


# ---------------------------------------------------------------------- risk report


def risk_report(folder: Path, tables: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """sdcMicro-style risk of each dataset's quasi-identifiers, per person in one period.

    The unit is a person in the last quarter of the extract (a panel has one row per person
    and quarter; risk is about recognising a person from the combination of their keys).
    """
    from disclosure.microdata import measure_risk

    report: dict[str, Any] = {"method": "disclosure.microdata.measure_risk (sdcMicro "
                              "semantics, no sampling weights: risk = 1/fk)", "datasets": {}}
    con = duckdb.connect()
    for name, table in tables.items():
        keys = [c for c in table["columns"] if c in QUASI_IDENTIFIERS]
        if not keys or not table["rows"]:
            report["datasets"][name] = {"keys": keys, "skipped": "no quasi-identifiers"
                                        if not keys else "no rows"}
            continue
        path = folder / table["file"]
        period = table["period_column"]
        where, at = "true", None
        if period:
            at = con.execute(f'select max("{period}") from read_parquet(\'{path}\')').fetchone()[0]
            where = f"\"{period}\" = '{at}'"
        cols = ", ".join(f'"{k}"' for k in keys)
        df = con.execute(f"select {cols} from read_parquet('{path}') where {where}").df()
        result = measure_risk(df, keys)
        report["datasets"][name] = {"keys": keys, "period": at, **result.summary()}
    measured = [d for d in report["datasets"].values() if "n" in d]
    report["summary"] = {
        "datasets_measured": len(measured),
        "max_global_risk_pct": max((d["global_risk_pct"] for d in measured), default=0.0),
        "k2_violations": sum(d["k_anonymity_violations"]["2"] for d in measured),
    }
    return report


# ---------------------------------------------------------------------- files


@contextmanager
def _open_warehouse(database: Path, settings: Settings):
    if not database.is_file():
        raise SdwhError(f"There is no warehouse at {database}.",
                        "Build it first: sdwh synth, sdwh ingest, sdwh build.")
    try:
        con = duckdb.connect(str(database), read_only=True)
        con.execute(f"set threads = {int(settings.duckdb_threads)}")
        con.execute("set memory_limit = $m", {"m": settings.duckdb_memory_limit})
        con.execute("set preserve_insertion_order = true")
    except (duckdb.IOException, duckdb.ConnectionException) as err:
        raise SdwhError(f"The warehouse {database} cannot be opened read-only "
                        f"({str(err).splitlines()[0][:160]}).",
                        "A build is probably running; extract when it has finished.") from None
    try:
        yield con
    finally:
        con.close()


@contextmanager
def _project_lock(root: Path):
    fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SdwhError(f"Another extract of {root.parent.name} is being made.",
                            "Wait for it to finish.") from None
        yield
    finally:
        os.close(fd)


def _next_id(root: Path) -> str:
    numbers = [int(p.name[1:]) for p in root.iterdir()
               if p.is_dir() and not p.is_symlink() and p.name[:1] == "v" and p.name[1:].isdigit()]
    return f"v{max(numbers, default=0) + 1}"


def _point_current(root: Path, extract_id: str) -> None:
    tmp = root / f".current-{os.getpid()}"
    if tmp.is_symlink():
        tmp.unlink()
    os.symlink(extract_id, tmp)
    os.replace(tmp, root / "current")
    _fsync_dir(root)


def _freeze(folder: Path) -> None:
    for path in folder.iterdir():
        os.chmod(path, 0o444)
    _fsync_dir(folder)
    os.chmod(folder, 0o555)


def _remove(folder: Path) -> None:
    if folder.exists():
        os.chmod(folder, 0o755)
        shutil.rmtree(folder, ignore_errors=True)


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    with path.open("w") as fh:
        json.dump(payload, fh, indent=2, sort_keys=True, default=str)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())


def _warehouse_state(database: Path) -> dict[str, Any]:
    state = database.parent / "build_state.json"
    out: dict[str, Any] = {"database": str(database)}
    if state.is_file():
        out["build_state_sha256"] = _sha256(state)
    return out


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    _fsync(path)


def _say(enabled: bool, message: str) -> None:
    if enabled:
        from sdwh.console import err_console

        err_console.print(message, style="dim", highlight=False)
