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
import numpy as np
import pyarrow as pa

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
from sdwh.ttp.pseudonym import PSEUDONYM_HEX, hmac_sql
from sdwh.warehouse.project import warehouse_paths

MANIFEST = "extract.json"
RISK_REPORT = "risk_report.json"
EXTRACTABLE = (ProjectState.APPROVED, ProjectState.ACTIVE)
#: Rows per Parquet row group: big enough for zstd and scans, small enough to stream.
ROW_GROUP = 500_000


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
            with _open_warehouse(database, settings, root / f".spill-{os.getpid()}") as con:
                tables = {}
                steps: dict[str, float] = {}  # seconds per dataset and step (benchmarks)
                for dataset in project.datasets:
                    _say(progress, f"extracting {dataset} …")
                    tables[dataset] = _extract_table(con, project, dataset, key, tmp)
                    steps[dataset] = round(time.perf_counter() - started - sum(
                        steps.values()), 2)
            _say(progress, "measuring microdata risk …")
            risk = risk_report(tmp, tables)
            steps["risk_report"] = round(time.perf_counter() - started - sum(
                steps.values()), 2)
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
    return manifest | {"path": str(final), "seconds": seconds, "steps": steps}


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
    where = " and ".join(conditions) or "true"
    target = out / f"{dataset}.parquet"
    try:
        rows, persons = _copy_pseudonymised(con, dataset, columns, where, period, key, target)
    except duckdb.Error as err:  # the SQL holds the key's pads: never show it
        raise SdwhError(f"Extracting {dataset} failed ({type(err).__name__}).",
                        "Check the warehouse with `sdwh build`; the statement is not shown "
                        "because it contains key material.") from None
    _fsync(target)
    return {"file": target.name, "rows": rows, "persons": persons,
            "columns": columns, "period_column": period, "sha256": _sha256(target),
            "bytes": target.stat().st_size}


def _copy_pseudonymised(con: duckdb.DuckDBPyConnection, dataset: str, columns: list[str],
                        where: str, period: str | None, key: bytes, target: Path
                        ) -> tuple[int, int]:
    """Write the slice to ``target`` with project pseudonyms; returns (rows, persons).

    A person has many rows (one per quarter), so the HMAC is computed once per distinct
    person (8× fewer than per row on the panel) and each person numbered in the order of
    their project pseudonym. DuckDB joins the rows to that number only and sorts by it and
    the period; the 32-character pseudonym is put back while writing (a lookup by number),
    so the sort does not carry it. The order is total (every thematic dataset has one row
    per person × period, tested in dbt), and the file is written here in row groups of
    exactly ``ROW_GROUP`` rows (DuckDB's parallel writer cuts them only approximately, which
    changed the bytes between runs): the same warehouse and key give a byte-identical file.
    The order is also the project's own random order: the warehouse's row order (by
    warehouse pseudonym or load order) would let two projects' files be lined up person by
    person.
    """
    source = f"(select * from thematic.{dataset} where {where})"
    if PERSON_COLUMN not in columns:  # no person in it: nothing to pseudonymise
        names = ", ".join(f'"{c}"' for c in columns)
        reader = con.sql(f"select {names} from {source} order by all"
                         ).to_arrow_reader(ROW_GROUP)
        return _write_parquet(reader, target, None, columns), 0
    con.execute("create or replace temp table extract_persons as "
                f"select person_id, {hmac_sql('person_id', key)} as pid from "
                f"(select distinct {PERSON_COLUMN} as person_id from {source})")
    try:
        pseudonyms = _fixed_width(con.sql("select pid from extract_persons order by pid")
                                  .to_arrow_table().column(0))
        con.execute("create or replace temp table extract_ranks as select person_id, "
                    "(row_number() over (order by pid))::integer - 1 as rank "
                    "from extract_persons")
        con.execute("drop table extract_persons")
        inner = ", ".join(f'd."{c}"' for c in columns if c != PERSON_COLUMN)
        order = "m.rank" + (f', d."{period}"' if period else "")
        reader = con.sql(
            f"select m.rank, {inner} from {source} d join extract_ranks m "
            f"on d.{PERSON_COLUMN} = m.person_id order by {order}").to_arrow_reader(ROW_GROUP)
        rows = _write_parquet(reader, target, pseudonyms, columns)
    finally:
        con.execute("drop table if exists extract_persons")
        con.execute("drop table if exists extract_ranks")
    return rows, len(pseudonyms)


def _write_parquet(reader: pa.RecordBatchReader, target: Path, pseudonyms: np.ndarray | None,
                   columns: list[str]) -> int:
    """Stream ``reader`` into a zstd Parquet file in row groups of exactly ``ROW_GROUP`` rows;
    with ``pseudonyms``, its first column (person numbers) becomes ``person_id``."""
    import pyarrow.parquet as pq

    writer, rows = None, 0
    try:
        for batch in _exact_batches(reader, ROW_GROUP):
            if pseudonyms is not None:
                ranks = batch.column(0).to_numpy(zero_copy_only=False)
                person = _as_strings(pseudonyms[ranks])
                rest = dict(zip(batch.schema.names[1:], batch.columns[1:], strict=True))
                batch = pa.RecordBatch.from_arrays(
                    [person if c == PERSON_COLUMN else rest[c] for c in columns], names=columns)
            if writer is None:
                writer = pq.ParquetWriter(target, batch.schema, compression="zstd")
            writer.write_batch(batch, row_group_size=ROW_GROUP)
            rows += batch.num_rows
        if writer is None:  # no rows: still a valid, empty file with the columns
            schema = reader.schema if pseudonyms is None else pa.schema(
                [pa.field(PERSON_COLUMN, pa.string()), *list(reader.schema)[1:]])
            writer = pq.ParquetWriter(target, schema, compression="zstd")
    finally:
        if writer is not None:
            writer.close()
    return rows


def _exact_batches(reader: pa.RecordBatchReader, size: int):
    """The reader's rows re-cut into batches of exactly ``size`` rows (the last: the rest)."""
    held: list[pa.RecordBatch] = []
    count = 0
    for batch in reader:
        held.append(batch)
        count += batch.num_rows
        while count >= size:
            table = pa.Table.from_batches(held)
            yield table.slice(0, size).combine_chunks().to_batches()[0]
            rest = table.slice(size)
            held = rest.combine_chunks().to_batches() if rest.num_rows else []
            count = rest.num_rows
    if count:
        yield pa.Table.from_batches(held).combine_chunks().to_batches()[0]


def _as_strings(picked: np.ndarray) -> pa.Array:
    """A numpy ``S32`` array as an Arrow string array without per-value work."""
    picked = np.ascontiguousarray(picked)
    n = len(picked)
    offsets = np.arange(0, (n + 1) * PSEUDONYM_HEX, PSEUDONYM_HEX, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets),
                                                  pa.py_buffer(picked)])


def _fixed_width(values: pa.ChunkedArray) -> np.ndarray:
    """32-character strings as a numpy ``S32`` array (one copy, no per-value work)."""
    array = values.combine_chunks().cast(pa.large_string())
    if array.null_count:
        raise SdwhError("The warehouse has persons without a pseudonym.",
                        "Rebuild the warehouse (`sdwh build`); its tests forbid this.")
    start = array.offset
    offsets = np.frombuffer(array.buffers()[1], np.int64)[start:start + len(array) + 1]
    if len(array) and not np.all(np.diff(offsets) == PSEUDONYM_HEX):
        raise SdwhError("A project pseudonym is not 32 characters long.", "Report this bug.")
    data = np.frombuffer(array.buffers()[2], np.uint8)[offsets[0]:offsets[-1]]
    return data.view(f"S{PSEUDONYM_HEX}").copy()


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
def _open_warehouse(database: Path, settings: Settings, spill: Path):
    """The warehouse, read-only; sorts that outgrow memory spill to ``spill`` (our folder,
    never the warehouse's, which may belong to another user or be read-only)."""
    if not database.is_file():
        raise SdwhError(f"There is no warehouse at {database}.",
                        "Build it first: sdwh synth, sdwh ingest, sdwh build.")
    try:
        con = duckdb.connect(str(database), read_only=True)
        con.execute(f"set threads = {int(settings.duckdb_threads)}")
        con.execute("set memory_limit = $m", {"m": settings.duckdb_memory_limit})
        con.execute("set preserve_insertion_order = true")
        con.execute("set temp_directory = $d", {"d": str(spill)})
    except (duckdb.IOException, duckdb.ConnectionException) as err:
        raise SdwhError(f"The warehouse {database} cannot be opened read-only "
                        f"({str(err).splitlines()[0][:160]}).",
                        "A build is probably running; extract when it has finished.") from None
    try:
        yield con
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)


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
