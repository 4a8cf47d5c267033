"""Frozen project extracts: the approved slice of the thematic layer under project pseudonyms.

``make_extract`` reads the warehouse read-only and writes, for every approved dataset, one
Parquet file with only the approved columns, quarters and population, the person id replaced
by HMAC(project key, warehouse pseudonym). The extract gets a version id (v1, v2, …), a
manifest with each file's SHA-256 and a microdata risk report from ``disclosure/``; it is
written to a temporary folder, made read-only (files 0444, folders 0555) and renamed into
place, then ``extracts/current`` is switched to it. A crash leaves the previous extract.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from queue import Full, Queue
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    import pandas as pd

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
            tables: dict[str, dict[str, Any]] = {}
            steps: dict[str, float] = {}  # seconds per dataset and step (benchmarks)
            # The risk of a dataset is measured on a second thread while its file is
            # synced and checksummed and the next dataset is extracted.
            with _open_warehouse(database, settings, root / f".spill-{os.getpid()}") as con, \
                    ThreadPoolExecutor(1, thread_name_prefix="extract-risk") as pool:
                measured = {}
                for dataset in project.datasets:
                    _say(progress, f"extracting {dataset} …")
                    begun, phases = time.perf_counter(), {}
                    tables[dataset], last = _extract_table(con, project, dataset, key, tmp,
                                                           phases)
                    measured[dataset] = pool.submit(dataset_risk, tables[dataset], last)
                    _seal(tmp / tables[dataset]["file"], tables[dataset])
                    steps[dataset] = round(time.perf_counter() - begun, 2)
                    steps |= {f"{dataset}:{k}": round(v, 2) for k, v in phases.items()}
                _say(progress, "measuring microdata risk …")
                begun = time.perf_counter()
                risk = risk_report({name: job.result() for name, job in measured.items()})
                steps["risk_report"] = round(time.perf_counter() - begun, 2)
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
                   key: bytes, out: Path, phases: dict[str, float] | None = None
                   ) -> tuple[dict[str, Any], _LastPeriod]:
    """Write one dataset's file; returns its manifest entry (without checksum, see
    ``_seal``) and the rows its risk is measured on."""
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
        rows, persons, last = _copy_pseudonymised(con, dataset, columns, where, period, key,
                                                  target, phases=phases)
    except duckdb.Error as err:  # the SQL holds the key's pads: never show it
        raise SdwhError(f"Extracting {dataset} failed ({type(err).__name__}).",
                        "Check the warehouse with `sdwh build`; the statement is not shown "
                        "because it contains key material.") from None
    return {"file": target.name, "rows": rows, "persons": persons,
            "columns": columns, "period_column": period}, last


def _seal(path: Path, table: dict[str, Any]) -> None:
    """Sync a written file and record its checksum and size in its manifest entry."""
    _fsync(path)
    table["sha256"] = _sha256(path)
    table["bytes"] = path.stat().st_size


def _copy_pseudonymised(con: duckdb.DuckDBPyConnection, dataset: str, columns: list[str],
                        where: str, period: str | None, key: bytes, target: Path,
                        join_on_hash: bool = True, phases: dict[str, float] | None = None
                        ) -> tuple[int, int, _LastPeriod]:
    """Write the slice to ``target`` with project pseudonyms; returns (rows, persons, the
    quasi-identifiers of the rows in the last period, for the risk report).

    A person has many rows (one per quarter), so the HMAC is computed once per distinct
    person (8× fewer than per row on the panel) and each person numbered in the order of
    their project pseudonym. DuckDB joins the rows to that number only and sorts by it and
    the period; the 32-character pseudonym is put back while writing (a lookup by number),
    so the sort does not carry it. The join is on a 64-bit hash of the warehouse pseudonym
    when no two persons of the slice share one (checked; else on the pseudonym itself),
    which halves its cost. The order is total (every thematic dataset has one row per
    person × period, tested in dbt), and the file is written here in row groups of exactly
    ``ROW_GROUP`` rows (DuckDB's parallel writer cuts them only approximately, which changed
    the bytes between runs): the same warehouse and key give a byte-identical file. The
    order is also the project's own random order: the warehouse's row order (by warehouse
    pseudonym or load order) would let two projects' files be lined up person by person.
    """
    source = f"(select * from thematic.{dataset} where {where})"
    last = _LastPeriod(period, [c for c in columns if c in QUASI_IDENTIFIERS])
    clock = _Clock(phases)
    if PERSON_COLUMN not in columns:  # no person in it: nothing to pseudonymise
        names = ", ".join(f'"{c}"' for c in columns)
        reader = con.sql(f"select {names} from {source} order by all"
                         ).to_arrow_reader(ROW_GROUP)
        rows = _write_parquet(_recut(reader, None, columns, last, clock), reader.schema, target,
                              clock)
        return rows, 0, last
    try:
        con.execute(
            "create or replace temp table extract_persons as select person_id, "
            "hash(person_id) as h, pid, (row_number() over (order by pid))::integer - 1 "
            f"as rank from (select person_id, {hmac_sql('person_id', key)} as pid from "
            f"(select distinct {PERSON_COLUMN} as person_id from {source}))")
        pseudonyms = _by_rank(con.sql("select rank, pid from extract_persons").to_arrow_table())
        clock.lap("persons")
        distinct_hashes = con.execute("select count(distinct h) = count(*) from "
                                      "extract_persons").fetchall()[0][0]
        on = (f"hash(d.{PERSON_COLUMN}) = m.h" if join_on_hash and distinct_hashes
              else f"d.{PERSON_COLUMN} = m.person_id")
        inner = ", ".join(f'd."{c}"' for c in columns if c != PERSON_COLUMN)
        order = "m.rank" + (f', d."{period}"' if period else "")
        reader = con.sql(f"select m.rank, {inner} from {source} d join extract_persons m "
                         f"on {on} order by {order}").to_arrow_reader(ROW_GROUP)
        schema = pa.schema([pa.field(PERSON_COLUMN, pa.string()) if c == PERSON_COLUMN
                            else reader.schema.field(c) for c in columns])
        rows = _write_parquet(_recut(reader, pseudonyms, columns, last, clock), schema, target,
                              clock)
    finally:
        con.execute("drop table if exists extract_persons")
    return rows, len(pseudonyms), last


def _by_rank(ranked: pa.Table) -> np.ndarray:
    """Project pseudonyms (``S32``) indexed by their rank, from unordered (rank, pid) rows."""
    ranks = ranked.column(0).to_numpy()
    pseudonyms = np.empty(len(ranks), f"S{PSEUDONYM_HEX}")
    pseudonyms[ranks] = _fixed_width(ranked.column(1))
    return pseudonyms


def _recut(reader: pa.RecordBatchReader, pseudonyms: np.ndarray | None, columns: list[str],
           last: _LastPeriod, clock: _Clock) -> Iterator[pa.RecordBatch]:
    """The reader's rows as the file's row groups: exactly ``ROW_GROUP`` rows each, with
    ``pseudonyms``, the first column (person numbers) becomes ``person_id``."""
    for batch in _exact_batches(reader, ROW_GROUP):
        if clock.marks.get("sorted") is None:
            clock.lap("sorted")
        if pseudonyms is not None:
            ranks = batch.column(0).to_numpy(zero_copy_only=False)
            person = _as_strings(pseudonyms[ranks])
            rest = dict(zip(batch.schema.names[1:], batch.columns[1:], strict=True))
            batch = pa.RecordBatch.from_arrays(
                [person if c == PERSON_COLUMN else rest[c] for c in columns], names=columns)
        last.add(batch)
        yield _coded(batch)


def _coded(batch: pa.RecordBatch) -> pa.RecordBatch:
    """String columns (not the pseudonym) as dictionaries in order of first appearance.

    That is the dictionary pyarrow's encoder builds itself, so the file does not change,
    but the hashing is done here, on the preparing thread, not on the encoding one. The
    pseudonyms are left alone: their dictionary outgrows the page limit and falls back to
    plain encoding, which would then differ.
    """
    import pyarrow.compute as pc

    return pa.RecordBatch.from_arrays(
        [pc.dictionary_encode(column) if _is_text(column.type) and name != PERSON_COLUMN
         else column for name, column in zip(batch.schema.names, batch.columns, strict=True)],
        schema=_coded_schema(batch.schema))


def _coded_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([field.with_type(pa.dictionary(pa.int32(), field.type))
                      if _is_text(field.type) and field.name != PERSON_COLUMN else field
                      for field in schema], metadata=schema.metadata)


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _write_parquet(batches: Iterator[pa.RecordBatch], schema: pa.Schema, target: Path,
                   clock: _Clock | None = None) -> int:
    """Write ``batches`` (one row group each) to a zstd Parquet file; returns the rows.

    pyarrow encodes a file on one thread, so the batches are prepared (DuckDB's fetch, the
    re-cut, the pseudonym lookup) on a second thread while this one encodes: the two
    overlap, and the file is the same as when done in turn (each row group is built whole
    before it is written).
    """
    import pyarrow.parquet as pq

    rows = 0
    # The batches arrive with dictionary-coded strings (see _coded); the file declares the
    # plain schema, as pyarrow itself records it (base64 of the serialised Arrow schema).
    with _ahead(batches, depth=2, clock=clock) as prepared, \
            pq.ParquetWriter(target, _coded_schema(schema), compression="zstd",
                             store_schema=False) as writer:
        writer.add_key_value_metadata(
            {"ARROW:schema": base64.b64encode(schema.serialize().to_pybytes())})
        for batch in prepared:
            begun = time.perf_counter()
            writer.write_batch(batch, row_group_size=ROW_GROUP)
            rows += batch.num_rows
            if clock is not None:
                clock.add("encoding", time.perf_counter() - begun)
    if clock is not None:
        clock.lap("written")
    return rows


class _Clock:
    """Seconds per phase of one dataset's extract, for benchmarks (``steps`` in the result).

    ``lap`` records the time since the previous lap; ``add`` sums a busy time."""

    def __init__(self, phases: dict[str, float] | None) -> None:
        self.marks = phases if phases is not None else {}
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.marks[name] = now - self.last
        self.last = now

    def add(self, name: str, seconds: float) -> None:
        self.marks[name] = self.marks.get(name, 0.0) + seconds


@contextmanager
def _ahead(items: Iterator[Any], depth: int, clock: _Clock | None = None
           ) -> Iterator[Iterator[Any]]:
    """Iterate ``items`` on a worker thread, up to ``depth`` ahead of the consumer; the
    worker's exception is raised in the consumer, and leaving early stops the worker."""
    done = object()
    queue: Queue[Any] = Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                queue.put(item, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def work() -> None:
        try:
            while True:
                begun = time.perf_counter()
                item = next(items, done)
                if clock is not None:
                    clock.add("preparing", time.perf_counter() - begun)
                if item is done or not put(item):
                    break
            put(done)
        except BaseException as err:  # handed to the consumer
            put(err)

    def consume() -> Iterator[Any]:
        while (item := queue.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item

    worker = threading.Thread(target=work, name="extract-prepare", daemon=True)
    worker.start()
    try:
        yield consume()
    finally:
        stop.set()
        worker.join()


def _exact_batches(reader: pa.RecordBatchReader, size: int) -> Iterator[pa.RecordBatch]:
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


class _LastPeriod:
    """The quasi-identifiers of the rows in the latest period seen, in file order: what the
    risk report measures, gathered while the file is written instead of read back."""

    def __init__(self, period: str | None, keys: list[str]) -> None:
        self.period, self.keys = period, keys
        self.at: Any = None
        self.parts: list[pa.RecordBatch] = []

    def add(self, batch: pa.RecordBatch) -> None:
        if not self.keys or not batch.num_rows:
            return
        if self.period is None:
            self.parts.append(batch.select(self.keys))
            return
        import pyarrow.compute as pc

        values = batch.column(self.period)
        latest = pc.max(values).as_py()
        if latest is None:
            return
        if self.at is None or latest > self.at:
            self.at, self.parts = latest, []
        self.parts.append(batch.select(self.keys).filter(pc.equal(values, self.at)))

    def frame(self) -> pd.DataFrame:
        """The rows as pandas, strings as categoricals (factorised once, not per value)."""
        import pandas as pd

        table = pa.Table.from_batches(self.parts).combine_chunks()
        return pd.DataFrame({
            k: (col.dictionary_encode() if pa.types.is_string(col.type)
                or pa.types.is_large_string(col.type) else col).to_pandas()
            for k, col in zip(table.column_names, table.columns, strict=True)})


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


def dataset_risk(table: dict[str, Any], last: _LastPeriod) -> dict[str, Any]:
    """sdcMicro-style risk of one dataset's quasi-identifiers, per person in one period.

    The unit is a person in the last quarter of the extract (a panel has one row per person
    and quarter; risk is about recognising a person from the combination of their keys).
    The rows are those of the written file in that period, in file order.
    """
    from disclosure.microdata import measure_risk

    keys = last.keys
    if not keys or not table["rows"] or not last.parts:
        return {"keys": keys, "skipped": "no quasi-identifiers" if not keys else "no rows"
                if not table["rows"] else "no period"}
    result = measure_risk(last.frame(), keys)
    return {"keys": keys, "period": last.at, **result.summary()}


def risk_report(datasets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The extract's risk report: each dataset's :func:`dataset_risk` and a summary."""
    report: dict[str, Any] = {"method": "disclosure.microdata.measure_risk (sdcMicro "
                              "semantics, no sampling weights: risk = 1/fk)",
                              "datasets": datasets}
    measured = [d for d in datasets.values() if "n" in d]
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
