"""Ingesting deliveries: landing zone → checks → TTP → immutable raw store + quarantine.

Per delivery: read the manifest and find its contract; skip it if the register knows it
(re-ingesting is a no-op); check the files (checksum, encoding, columns, row count); check
every record; pseudonymise national numbers; write accepted rows to
``raw/<supplier>/<dataset>/<period>/<delivery_id>/data.parquet`` and rejected rows, as sent,
to ``quarantine/…/<delivery_id>.parquet``; then commit the register row. Only that commit
makes a delivery count, so a crash anywhere before it leaves nothing that a re-run would not
rebuild byte-for-byte.
"""

from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sdwh.config import Settings
from sdwh.deliveries import register
from sdwh.errors import DeliveryRejected
from sdwh.faults import failpoint
from sdwh.landing.codelists import CodeLists, load_codelists
from sdwh.landing.contracts import Contract, find_contract
from sdwh.landing.identifier_checks import check_column, with_identifier_checks
from sdwh.landing.manifest import MANIFEST_NAME, Manifest, delivery_id, read_manifest
from sdwh.landing.periods import is_period, period_end
from sdwh.landing.readers import check_file, read_delivered_file
from sdwh.landing.rules import harmonised_refnis, insz_kind, nace_version, q, typed_value
from sdwh.landing.store import atomic_dir, atomic_write_bytes
from sdwh.landing.validate import count_failures, find_failures, reject_systematic_faults
from sdwh.sampling.sample_keys import resolve_sample_keys
from sdwh.ttp.keys import key_id, ttp_key
from sdwh.ttp.pseudonym import PseudonymCache

DELIVERIES_EXPORT = "_deliveries.parquet"


@dataclass
class Outcome:
    """What happened to one delivery in this run."""

    folder: str
    delivery_id: str
    status: str  # accepted | superseded | rejected | skipped
    rows_in: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    rule: str = ""
    message: str = ""
    hint: str = ""


@dataclass
class IngestSummary:
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    def as_dict(self) -> dict[str, Any]:
        rows = {k: sum(getattr(o, k) for o in self.outcomes)
                for k in ("rows_in", "rows_accepted", "rows_quarantined")}
        return {
            "deliveries": {s: self.count(s) for s in ("accepted", "superseded", "rejected",
                                                      "skipped")},
            **rows,
            "seconds": round(self.seconds, 2),
            "outcomes": [o.__dict__ for o in self.outcomes],
        }


def _connect(settings: Settings) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET threads = {settings.duckdb_threads}")
    con.execute(f"SET memory_limit = '{settings.duckdb_memory_limit}'")
    return con


def _contract_for(folder: Path, manifest: Manifest) -> Contract:
    contract = find_contract(manifest.supplier, manifest.dataset)
    if contract is None:
        raise DeliveryRejected(str(folder / MANIFEST_NAME), "unknown_contract",
                               f"no contract for supplier '{manifest.supplier}' and dataset "
                               f"'{manifest.dataset}'",
                               "Agree a contract (sdwh/landing/contracts/) before delivering.")
    if not is_period(manifest.reference_period, contract.period):
        raise DeliveryRejected(str(folder / MANIFEST_NAME), "manifest_invalid",
                               f"reference period '{manifest.reference_period}' is not a "
                               f"{contract.period}", "Use 2024 (year), 2024Q3 or 2024-07.")
    unknown = set(manifest.units) - {c.name for c in contract.columns if c.type == "amount"}
    if unknown:
        raise DeliveryRejected(str(folder / MANIFEST_NAME), "manifest_invalid",
                               f"'units' names non-amount column(s) {', '.join(sorted(unknown))}",
                               "Declare units only for amount columns.")
    return contract


def _read_all(folder: Path, manifest: Manifest, contract: Contract) -> tuple[pa.Table, list]:
    """All files of a delivery as one numbered Arrow table, plus unparseable lines."""
    tables, bad = [], []
    for declared in manifest.files:
        path = folder / declared.name
        check_file(path, declared)
        result = read_delivered_file(path, contract)
        found = result.table.num_rows + len(result.bad_lines)
        if found != declared.rows:
            raise DeliveryRejected(str(path), "row_count",
                                   f"the file has {found} data rows, the manifest says "
                                   f"{declared.rows}", "Resend the complete file.")
        tables.append(result.table.add_column(0, "_file", pa.repeat(
            pa.scalar(declared.name, pa.string()), result.table.num_rows)))
        bad += [(declared.name, line) for line in result.bad_lines]
    table = pa.concat_tables(tables)
    return table.add_column(0, "_seq", pa.array(np.arange(table.num_rows, dtype=np.int64))), bad


def _pseudonym_column(name: str) -> str:
    return f"_pseudonym_{name}"


def _with_pseudonyms(accepted: pa.Table, contract: Contract,
                     cache: PseudonymCache) -> pa.Table:
    """Accepted rows plus a pseudonym column for each national-number column."""
    for c in contract.columns:
        if c.type == "insz":
            accepted = accepted.append_column(
                _pseudonym_column(c.name), cache.pseudonyms(accepted[c.name].combine_chunks()))
    return accepted


def _with_sample_keys(table: pa.Table, contract: Contract, period: str,
                      settings: Settings) -> pa.Table:
    """Sample keys checked and resolved to pseudonyms through the TTP's sample link files,
    which never leave ``ttp/samples/``; the key itself is not stored (see _accepted_select)."""
    for c in contract.columns:
        if c.type == "sample_key":
            found = resolve_sample_keys(table[c.name].combine_chunks(),
                                        table[c.sample_column].combine_chunks(), period,
                                        settings.root / "ttp" / "samples")
            table = table.append_column(check_column(c.name), found.reasons).append_column(
                _pseudonym_column(c.name), found.person_ids)
    return table


def _accepted_select(contract: Contract, manifest: Manifest, did: str,
                     lists: CodeLists) -> str:
    """The harmonised, pseudonymised projection of valid rows (no national number in it)."""
    period = manifest.reference_period
    cols: list[str] = []
    for c in contract.columns:
        v = q(c.name)
        if c.type == "insz":
            cols += [f"{q(_pseudonym_column(c.name))} AS {q(c.pseudonym)}",
                     f"{insz_kind(v)} AS {q(c.pseudonym + '_kind')}"]
        elif c.type == "sample_key":
            cols.append(f"{q(_pseudonym_column(c.name))} AS {q(c.pseudonym)}")
        elif c.type == "refnis":
            harmonised = harmonised_refnis(v, int(period[:4]), lists)
            cols += [f"{harmonised} AS {v}", f"{v} AS {q(c.name + '_reported')}"]
        elif c.type == "nace":
            cols += [f"{v} AS {v}", f"'{nace_version(period)}' AS {q(c.name + '_version')}"]
        elif c.type == "amount":
            cols.append(f"{typed_value(c, manifest.units.get(c.name))} AS {q(c.name + '_eur')}")
        else:
            cols.append(f"{typed_value(c)} AS {v}")
    cols += [f"'{did}' AS delivery_id", f"'{period}' AS reference_period"]
    return f"SELECT {', '.join(cols)} FROM accepted"


def _quarantine_select(contract: Contract) -> str:
    """Rejected rows exactly as sent, with the rules they broke (TTP side: holds INSZ)."""
    originals = ", ".join(q(c) for c in contract.column_names)
    nulls = ", ".join(f"NULL AS {q(c)}" for c in contract.column_names)
    return (
        "SELECT _file AS file, _row AS row_number, _failures[1].field AS field, "
        "_failures[1].rule AS rule, list_transform(_failures, lambda x: x.field || ':' || x.rule) "
        f"AS all_failures, {originals}, NULL::VARCHAR AS raw_line "
        "FROM failed JOIN src USING (_seq, _file, _row) "
        "UNION ALL SELECT file, NULL, '(line)', 'csv_field_count', ['(line):csv_field_count'], "
        f"{nulls}, line FROM bad_lines ORDER BY file, row_number NULLS LAST, raw_line"
    )


def _copy(con: duckdb.DuckDBPyConnection, select: str, target: Path) -> None:
    con.execute(f"COPY ({select}) TO '{target}' "
                "(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)")


def _timing(folder: Path, manifest: Manifest, contract: Contract) -> dict[str, Any]:
    end = period_end(manifest.reference_period, contract.period)
    end_dt = datetime(end.year, end.month, end.day, tzinfo=UTC)
    sent = manifest.sent_at if manifest.sent_at.tzinfo else manifest.sent_at.replace(tzinfo=UTC)
    arrived = datetime.fromtimestamp((folder / MANIFEST_NAME).stat().st_mtime, UTC)
    return {
        "sent_at": sent.isoformat(), "arrived_at": arrived.isoformat(timespec="seconds"),
        "ingested_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "period_end": end.isoformat(), "due_days": contract.due_days,
        "lag_days": round((sent - end_dt).total_seconds() / 86400, 2),
    }


def _base_entry(folder: Path, manifest: Manifest, did: str) -> dict[str, Any]:
    return {
        "delivery_id": did, "supplier": manifest.supplier, "dataset": manifest.dataset,
        "reference_period": manifest.reference_period, "revision": manifest.revision,
        "landing_path": str(folder),
    }


def _record_rejection(con, folder: Path, manifest: Manifest | None, did: str,
                      err: DeliveryRejected, contract: Contract | None) -> Outcome:
    if manifest is not None and contract is not None:
        entry = {**_base_entry(folder, manifest, did), **_timing(folder, manifest, contract),
                 "status": "rejected", "rows_in": sum(f.rows for f in manifest.files),
                 "rows_accepted": 0, "rows_quarantined": 0, "reject_rule": err.rule,
                 "reject_message": err.message}
        register.record(con, entry, [])
    return Outcome(folder.name, did, "rejected", rule=err.rule, message=err.message,
                   hint=err.hint)


def ingest_delivery(folder: Path, settings: Settings, reg, key: bytes,
                    con: duckdb.DuckDBPyConnection,
                    cache: PseudonymCache | None = None) -> Outcome:
    """Ingest one delivery folder; structural faults are recorded as a rejection.

    ``cache`` (shared across a run's deliveries) must have been made with ``key``.
    """
    manifest = contract = None
    did = ""
    try:
        manifest = read_manifest(folder)
        did = delivery_id(manifest)
        known = register.find(reg, did)
        if known:
            return Outcome(folder.name, did, "skipped", message=f"already {known['status']}")
        contract = _contract_for(folder, manifest)
        return _ingest_checked(folder, manifest, contract, did, settings, reg, key, con,
                               cache if cache is not None else PseudonymCache(key))
    except DeliveryRejected as err:
        return _record_rejection(reg, folder, manifest, did, err, contract)


def _ingest_checked(folder: Path, manifest: Manifest, contract: Contract, did: str,
                    settings: Settings, reg, key: bytes,
                    con: duckdb.DuckDBPyConnection, cache: PseudonymCache) -> Outcome:
    current = register.current_for_period(reg, manifest.supplier, manifest.dataset,
                                          manifest.reference_period)
    if current and current["revision"] == manifest.revision:
        raise DeliveryRejected(str(folder / MANIFEST_NAME), "revision_conflict",
                               f"revision {manifest.revision} of {manifest.reference_period} was "
                               f"already accepted with other content ({current['delivery_id']})",
                               "A correction must carry a higher revision number.")
    table, bad = _read_all(folder, manifest, contract)
    rows_in = table.num_rows + len(bad)
    try:
        table = with_identifier_checks(table, contract, manifest.reference_period)
        table = _with_sample_keys(table, contract, manifest.reference_period, settings)
        con.register("src", table)
        con.register("bad_lines", pa.table({"file": [f for f, _ in bad],
                                            "line": [line for _, line in bad]},
                                           schema=pa.schema([("file", pa.string()),
                                                             ("line", pa.string())])))
        lists = load_codelists(settings.seeds_dir)
        find_failures(con, contract, manifest.reference_period, manifest.units, lists,
                      prechecked=True)
        counts = count_failures(con)
        reject_systematic_faults(str(folder / manifest.files[0].name), counts, rows_in,
                                 settings.systematic_fault_share)
        failed = con.sql("SELECT _seq FROM failed").to_arrow_table().column(0)
        accepted_rows = table.filter(pc.invert(pc.is_in(table["_seq"], failed)))
        con.register("accepted", _with_pseudonyms(accepted_rows, contract, cache))
        quarantined = len(failed) + len(bad)
        accepted = rows_in - quarantined
        where = Path(contract.supplier, contract.dataset, manifest.reference_period)
        raw_dir = settings.raw_dir / where / did
        quarantine_file = settings.quarantine_dir / where / f"{did}.parquet"
        with atomic_dir(raw_dir) as tmp:
            _copy(con, _accepted_select(contract, manifest, did, lists), tmp / "data.parquet")
        failpoint("after_raw_write")
        with atomic_dir(quarantine_file.with_suffix("")) as tmp:
            _copy(con, _quarantine_select(contract), tmp / "rows.parquet")
        failpoint("after_quarantine_write")
    finally:
        con.execute("DROP TABLE IF EXISTS failed")
        con.unregister("accepted")
        con.unregister("src")
        con.unregister("bad_lines")
    written = pq.read_metadata(raw_dir / "data.parquet").num_rows
    if written != accepted:  # the accounting is asserted, not assumed
        shutil.rmtree(raw_dir)
        raise RuntimeError(f"{did}: wrote {written} rows, expected {accepted}")
    late_older = current is not None and current["revision"] > manifest.revision
    entry = {**_base_entry(folder, manifest, did), **_timing(folder, manifest, contract),
             "status": "superseded" if late_older else "accepted",
             "superseded_by": current["delivery_id"] if late_older else None,
             "rows_in": rows_in, "rows_accepted": accepted, "rows_quarantined": quarantined,
             "key_id": key_id(key), "raw_path": str(raw_dir),
             "quarantine_path": str(quarantine_file.with_suffix("") / "rows.parquet")}
    reasons = [(c.field, c.rule, c.rows) for c in counts]
    if bad:
        reasons.append(("(line)", "csv_field_count", len(bad)))
    register.record(reg, entry, reasons,
                    supersede=current["delivery_id"] if current and not late_older else None)
    failpoint("after_register_commit")
    return Outcome(folder.name, did, entry["status"], rows_in, accepted, quarantined)


def landing_folders(landing: Path) -> list[Path]:
    """Delivery folders in the landing zone (a dot folder is a writer's unfinished one)."""
    if not landing.is_dir():
        return []
    return sorted(p for p in landing.iterdir() if p.is_dir() and not p.name.startswith("."))


def export_register(settings: Settings, reg) -> Path:
    """Write the register as Parquet next to the raw store, for the warehouse's sources."""
    rows = register.all_deliveries(reg)
    target = settings.raw_dir / DELIVERIES_EXPORT
    table = pa.Table.from_pylist(rows) if rows else pa.table({c: pa.array([], pa.string())
                                                              for c in register.COLUMNS})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    atomic_write_bytes(target, sink.getvalue().to_pybytes())
    return target


def _remove_leftovers(settings: Settings) -> None:
    """Temporary folders of a crashed run are garbage: nothing refers to them."""
    for base in (settings.raw_dir, settings.quarantine_dir):
        if base.is_dir():
            for tmp in base.glob("**/.tmp-*"):
                shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink()


def _period_groups(folders: list[Path]) -> list[list[Path]]:
    """Folders grouped by supplier dataset and period, each group in sending order.

    Revisions of one period must be taken in order (a revision after what it replaces);
    different periods are independent, so groups can be ingested side by side. A folder
    whose manifest cannot be read is a group of its own (its rejection is reported later).
    """
    keyed = []
    for folder in folders:
        try:
            m = read_manifest(folder)
            keyed.append(((m.supplier, m.dataset, m.reference_period),
                          (m.sent_at.isoformat(), folder.name), folder))
        except DeliveryRejected:
            keyed.append(((str(folder),), ("", folder.name), folder))
    groups: dict[tuple[str, ...], list[Path]] = {}
    for key, _, folder in sorted(keyed, key=lambda k: k[1]):
        groups.setdefault(key, []).append(folder)
    return list(groups.values())


def _ingest_group(group: list[Path], settings: Settings, key: bytes, cache: PseudonymCache,
                  progress: Any) -> list[tuple[Path, Outcome]]:
    """One worker: its own DuckDB and register connections, one period's deliveries in order."""
    con = _connect(settings)
    try:
        with register.open_register(settings.register_path) as reg:
            done = []
            for folder in group:
                if progress:
                    progress(folder.name)
                done.append((folder, ingest_delivery(folder, settings, reg, key, con, cache)))
            return done
    finally:
        con.close()


def ingest_all(settings: Settings, folders: list[Path] | None = None,
               progress: Any = None) -> IngestSummary:
    """Ingest every delivery in the landing zone (or the given folders), oldest first.

    ``settings.ingest_workers`` periods are ingested side by side (DuckDB, Arrow and hashlib
    release the GIL); outputs do not depend on the interleaving.
    """
    started = time.perf_counter()
    if folders is None:
        folders = landing_folders(settings.landing_dir)
    key = ttp_key(settings)
    _remove_leftovers(settings)
    settings.quarantine_dir.mkdir(parents=True, exist_ok=True)
    settings.quarantine_dir.chmod(0o700)  # holds national numbers: TTP staff only
    with register.open_register(settings.register_path):
        pass  # create the schema before workers connect
    position = {folder: i for i, folder in enumerate(folders)}
    with ThreadPoolExecutor(max_workers=settings.ingest_workers) as pool:
        cache = PseudonymCache(key)  # each national number is hashed once per run
        results = pool.map(lambda g: _ingest_group(g, settings, key, cache, progress),
                           _period_groups(folders))
        outcomes = sorted((pair for group in results for pair in group),
                          key=lambda pair: position[pair[0]])
    summary = IngestSummary(outcomes=[o for _, o in outcomes])
    with register.open_register(settings.register_path) as reg:
        export_register(settings, reg)
    summary.seconds = time.perf_counter() - started
    return summary
