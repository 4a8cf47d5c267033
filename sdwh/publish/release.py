"""``sdwh publish``: a VOS release from the publication layer, whole or not at all.

A release ``YYYYQn`` holds every quarter up to ``YYYYQn`` of every indicator, protected by
disclosure control, in four formats, with metadata, the SDC audit and the revision record
against the previous release. It is written into a temporary folder beside the releases,
every file fsynced, then renamed in one step: a crash leaves the earlier releases as they
were and no half release. Nothing in it depends on the clock, so the same warehouse gives
byte-identical releases.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from statistics import median
from typing import Any

import duckdb
import numpy as np
import pandas as pd

import disclosure.protect as disclosure_protect
import sdwh.publish.protection as protection_module
from disclosure.rules import RuleParams
from sdwh.config import Settings
from sdwh.errors import SdwhError
from sdwh.faults import failpoint
from sdwh.publish import cells, formats
from sdwh.publish.indicators import INDICATORS, Indicator
from sdwh.publish.linked import LINKS, exposed_nwwz_tables
from sdwh.publish.protection import Block, GeoParents, Outcome, protect_cells

RELEASE_ID = re.compile(r"^(\d{4})Q([1-4])$")
LICENCE = "Modellicentie Gratis Hergebruik v1.0"
LICENCE_URI = "https://data.vlaanderen.be/id/licentie/modellicentie-gratis-hergebruik/v1.0"
SUPPLIER_NAMES = {
    "rr": "Rijksregister (national register)", "rsz": "RSZ (social security, DmfA)",
    "rsvz": "RSVZ (self-employed)", "rva": "RVA (unemployment benefits)",
    "vdab": "VDAB (jobseekers)", "podmi": "POD MI (social integration)",
    "ahovoks": "AHOVOKS (qualifications)",
}
SEX_LABELS = {"M": "Men", "F": "Women", "T": "Total"}
FALLBACK_NOTE = ("; tables whose secondary suppression overran SDWH_PUBLISH_TIME_BUDGET, "
                 "and NWWZ tables the employment rate's published cells would expose, have "
                 "every cell suppressed (fallback_tables), audited by LP too")


def releases_dir(settings: Settings) -> Path:
    return settings.root / "releases"


def planned_date(release: str) -> date:
    """Release calendar: the first Monday at least 120 days after the quarter ends.

    120 days leave room for RSZ's DmfA, the slowest regular supplier (due 90 days after the
    quarter), plus the build and review; a Monday keeps release days predictable.
    """
    year, q = int(release[:4]), int(release[5])
    end = date(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1) - timedelta(days=1)
    day = end + timedelta(days=120)
    return day + timedelta(days=(7 - day.weekday()) % 7)


def check_release_id(release: str) -> None:
    if not RELEASE_ID.match(release):
        raise SdwhError(f"release '{release}' is not a quarter like 2025Q4.",
                        "Name a release after its reference quarter: YYYYQn.")


def existing_releases(settings: Settings) -> list[str]:
    """Complete releases (folders with a release.json), oldest first."""
    root = releases_dir(settings)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir()
                  if RELEASE_ID.match(p.name) and (p / "release.json").is_file())


def _read_models(settings: Settings, release: str) -> dict[str, pd.DataFrame]:
    db = settings.root / "warehouse" / "sdwh.duckdb"
    if not db.is_file():
        raise SdwhError(f"no warehouse at {db}.", "Run `sdwh build` first.")
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = {}
        for ind in INDICATORS:
            order = ", ".join(cells.key_columns(ind))
            try:
                out[ind.id] = con.execute(
                    f"select * from publication.{ind.model} order by {order}").df()
            except duckdb.CatalogException as err:
                raise SdwhError(f"the warehouse has no publication.{ind.model}.",
                                "Run `sdwh build` to build the publication layer.") from err
    finally:
        con.close()
    # the grid comes from every quarter in the warehouse, so consecutive releases share
    # their tables (and their cached protection) for the quarters they have in common
    out = {ind.id: _until(complete_grid(ind, out[ind.id]), release) for ind in INDICATORS}
    if not any((f["quarter"] == release).any() for f in out.values()):
        raise SdwhError(f"the warehouse has no data for {release}.",
                        "Ingest and build that quarter first, or publish an earlier one.")
    return out


def _until(frame: pd.DataFrame, release: str) -> pd.DataFrame:
    return frame[frame["quarter"] <= release].reset_index(drop=True)


def complete_grid(ind: Indicator, frame: pd.DataFrame) -> pd.DataFrame:
    """Add the empty cells: every table gets every key seen anywhere in the model.

    The models leave out empty cells (no women aged 20-24 working in a province), but an
    absent row is a published zero: once linked tables publish their totals, the empty cell
    can be derived exactly. As explicit zero cells they are primaries and get protected.
    """
    if frame.empty:
        return frame
    keys = [d.column for d in ind.dimensions if d.column not in ind.table_by]
    combos = frame[keys].drop_duplicates()
    tables = frame[list(ind.table_by)].drop_duplicates()
    full = tables.merge(combos, how="cross").merge(frame, on=[*ind.table_by, *keys],
                                                     how="left")
    counts = [c for c in frame.columns if c not in keys and c not in ind.table_by]
    absent = full[counts[0]].isna()
    for col in counts:
        full[col] = full[col].astype("float64")
        if col.endswith("_pct"):
            continue  # rates are recomputed from the counts when published
        if col == "denominator" and ind.additivity == "breakdowns":
            full.loc[absent & (full["breakdown"] != "unemployment_duration"), col] = 0.0
        else:
            full.loc[absent, col] = 0.0
    order = cells.key_columns(ind)
    return full.sort_values(order, kind="stable").reset_index(drop=True)


def _frame_sha(frames: dict[str, pd.DataFrame]) -> str:
    h = hashlib.sha256()
    for name in sorted(frames):
        h.update(name.encode())
        h.update(frames[name].to_csv(index=False, lineterminator="\n").encode())
    return h.hexdigest()


def _cache_key(blocks: list[Block], params: RuleParams) -> str:
    """Same code, rules and cells → same pattern: the key of a cached protection outcome."""
    h = hashlib.sha256()
    for module in (protection_module, disclosure_protect):
        h.update(Path(module.__file__).read_bytes())
    h.update(params.model_dump_json().encode())
    for block in blocks:
        h.update(block.indicator.id.encode())
        h.update(block.cells.to_csv(index=False, lineterminator="\n").encode())
    return h.hexdigest()


def _protect_cached(blocks: list[Block], geo: GeoParents, params: RuleParams,
                    cache: Path | None, time_budget: float | None = None) -> Outcome:
    """Protection is deterministic, so an outcome is reused for unchanged tables.

    Only quarters whose cells changed (a new quarter, a revised delivery) are protected
    again; the cache lives outside the releases and never changes a published byte. A
    time-budget fallback depends on the machine's speed, not only on the cells: it is not
    cached, so the next release tries the table again.
    """
    path = None
    if cache is not None:
        path = cache / f"{_cache_key(blocks, params)}.json"
        if path.is_file():
            doc = json.loads(path.read_text())
            return Outcome({k: np.array(v, dtype=bool) for k, v in doc["suppressed"].items()},
                           {k: np.array(v, dtype=bool) for k, v in doc["primary"].items()},
                           doc["rules"], doc["record"])
    outcome = protect_cells(blocks, geo, params, LINKS, time_budget)
    if path is not None and "fallback" not in outcome.record:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({
            "suppressed": {k: v.tolist() for k, v in outcome.suppressed.items()},
            "primary": {k: v.tolist() for k, v in outcome.primary.items()},
            "rules": outcome.rules, "record": outcome.record}))
        os.replace(tmp, path)
    return outcome


def _protect_job(job: tuple[list[Block], GeoParents, RuleParams, Path | None, float | None]
                 ) -> Outcome:
    """One independent table, in a worker process."""
    return _protect_cached(*job)


def worker_count(settings: Settings) -> int:
    """SDWH_PUBLISH_WORKERS, or one per CPU (at most 4) when it is 0."""
    if settings.publish_workers:
        return settings.publish_workers
    return max(1, min(4, len(os.sched_getaffinity(0))))


def protect_all(ind_frames: dict[str, pd.DataFrame], geo: GeoParents, params: RuleParams,
                progress: Callable[[int, int], None] | None = None,
                cache: Path | None = None, workers: int = 1,
                time_budget: float | None = None
                ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Protect every independent table; per indicator: suppressed, primary, rules arrays.

    Tables are independent problems, so ``workers`` processes share them; results are
    collected in table order, so the release does not depend on the number of workers.
    ``time_budget``: seconds per table before it falls back to suppressing all its cells.
    """
    result = {i: {"suppressed": np.zeros(len(f), dtype=bool),
                  "primary": np.zeros(len(f), dtype=bool),
                  "rules": np.full(len(f), "", dtype=object)} for i, f in ind_frames.items()}
    groups: dict[tuple, list[tuple[Indicator, np.ndarray]]] = {}
    for ind in INDICATORS:
        frame = ind_frames[ind.id]
        for key, idx in frame.groupby(list(ind.table_by), sort=True).indices.items():
            family = "geo" if ind.additivity == "sex_geo" else ind.id
            key = key if isinstance(key, tuple) else (key,)
            groups.setdefault((family, *key), []).append((ind, idx))
    order = sorted(groups)
    jobs = [([Block(ind, ind_frames[ind.id].iloc[idx].reset_index(drop=True))
              for ind, idx in groups[key]], geo, params, cache, time_budget) for key in order]
    records = []
    with _executor(workers, len(jobs)) as pool:
        outcomes = pool.map(_protect_job, jobs) if pool else map(_protect_job, jobs)
        for done, (key, outcome) in enumerate(zip(order, outcomes, strict=True), start=1):
            members = groups[key]
            for ind, idx in members:
                result[ind.id]["suppressed"][idx] = outcome.suppressed[ind.id]
                result[ind.id]["primary"][idx] = outcome.primary[ind.id]
                result[ind.id]["rules"][idx] = outcome.rules[ind.id]
            records.append({"table": list(map(str, key)),
                            **_with_cell_keys(outcome.record, members, ind_frames)})
            if progress:
                progress(done, len(jobs))
    # NWWZ and the employment rate share counts: a NWWZ table the other's published cells
    # would expose is published wholly suppressed (adds nothing; the other stands alone)
    exposed, unaudited = exposed_nwwz_tables(
        ind_frames, {i: r["suppressed"] for i, r in result.items()}, geo, params)
    for k, key in enumerate(order):
        if key[0] != "nwwz":
            continue
        if str(key[1]) not in exposed:
            records[k]["linked_audit"] = unaudited.get(
                str(key[1]), "passed: audited together with the employment rate's region "
                "counts of the quarter")
            continue
        (ind, idx), = groups[key]
        outcome = protect_cells(jobs[k][0], geo, params, LINKS, suppress_all=(
            f"linked to the employment rate: {exposed[str(key[1])]}; every cell of this NWWZ "
            "table is suppressed"))
        result[ind.id]["suppressed"][idx] = outcome.suppressed[ind.id]
        records[k] = {"table": list(map(str, key)),
                      **_with_cell_keys(outcome.record, groups[key], ind_frames)}
    return {i: {k: pd.Series(v) for k, v in r.items()} for i, r in result.items()}, records


class _executor:
    """A process pool when it pays (more than one worker and table), else nothing."""

    def __init__(self, workers: int, jobs: int):
        self.pool = None
        if workers > 1 and jobs > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # spawn: the parent has threads (progress display, DuckDB) that fork would copy
            self.pool = ProcessPoolExecutor(min(workers, jobs),
                                            mp_context=multiprocessing.get_context("spawn"))

    def __enter__(self) -> Any:
        return self.pool

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


def _with_cell_keys(record: dict[str, Any], members: list[tuple[Indicator, np.ndarray]],
                    ind_frames: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """The audit record with each interval's cell named by its keys, per indicator."""
    iv = record["intervals"]
    names = np.asarray(iv["indicator"], dtype=object)
    cell = np.asarray(iv["cell"], dtype=np.int64)
    per_indicator: dict[str, Any] = {}
    for ind, idx in members:
        mine = np.flatnonzero(names == ind.id)
        rows = ind_frames[ind.id].iloc[idx[cell[mine]]]
        per_indicator[ind.id] = {
            **{c: rows[c].astype(str).tolist() for c in cells.key_columns(ind)},
            **{f: [iv[f][i] for i in mine] for f in ("table", "value", "required_upper",
                                                      "intruder_upper_at_least")}}
    return {**{k: v for k, v in record.items() if k != "intervals"},
            "intervals": per_indicator}


def _labels(settings: Settings, ind: Indicator) -> dict[str, dict[str, str]]:
    labels: dict[str, dict[str, str]] = {
        "SEX": SEX_LABELS, "MEASURE": {m.id: m.label for m in ind.measures}}
    geo: dict[str, str] = {"02000": "Vlaams Gewest"}
    for name in ("refnis_municipality_flanders_2025.csv", "refnis_arrondissement_flanders.csv",
                 "refnis_province_region.csv"):
        with (settings.seeds_dir / name).open() as fh:
            geo |= {r["refnis"]: r["name_nl"] for r in csv.DictReader(fh)}
    labels["GEO"] = geo
    return labels


def source_quality(settings: Settings, ind: Indicator, release: str) -> list[dict[str, Any]]:
    """Per source dataset: periods used, deliveries, lag, quarantine share (delivery register)."""
    path = settings.root / "raw" / "_deliveries.parquet"
    if not path.is_file():
        return []
    rows = duckdb.sql(f"select supplier, dataset, reference_period, revision, status, sent_at, "
                      f"lag_days, due_days, rows_in, rows_accepted, rows_quarantined "
                      f"from read_parquet('{path}')").df()
    out = []
    last_year = release[:4]
    for supplier, dataset in ind.sources:
        mine = rows[(rows["supplier"] == supplier) & (rows["dataset"] == dataset)
                    & (rows["status"] != "rejected")]
        mine = mine[mine["reference_period"].str[:4] <= last_year]
        periods = sorted(set(mine["reference_period"]))
        accepted = mine[mine["status"] == "accepted"]
        rows_in = int(accepted["rows_in"].sum())
        first = mine.sort_values("sent_at").drop_duplicates("reference_period")
        out.append({
            "supplier": supplier, "dataset": dataset,
            "supplier_name": SUPPLIER_NAMES.get(supplier, supplier),
            "reference_periods": [periods[0], periods[-1]] if periods else [],
            "deliveries": len(mine), "revisions": int((mine["revision"] > 1).sum()),
            "last_sent_at": str(mine["sent_at"].max()) if len(mine) else None,
            "median_lag_days": round(float(median(first["lag_days"])), 1) if len(first) else None,
            "due_days": int(mine["due_days"].iloc[0]) if len(mine) else None,
            "coverage_rows_accepted_share": round(
                int(accepted["rows_accepted"].sum()) / rows_in, 4) if rows_in else None,
        })
    return out


def _previous_table(settings: Settings, previous: str | None, ind: Indicator
                    ) -> pd.DataFrame | None:
    if previous is None:
        return None
    path = releases_dir(settings) / previous / ind.id / f"{ind.id}.parquet"
    if not path.is_file():
        return None
    return pd.read_parquet(path)


def _write_file(folder: Path, rel: str, data: bytes, manifest: dict[str, str]) -> None:
    path = folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    manifest[rel] = hashlib.sha256(data).hexdigest()


def _json(obj: Any) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, indent=1, sort_keys=True, default=str) + "\n"
            ).encode()


def _compact_json(obj: Any) -> bytes:
    """Large machine-read records: no indentation (a per-primary audit is 100,000s of rows)."""
    return (json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
            + "\n").encode()


def publish_release(settings: Settings, release: str, issued: date | None = None,
                    params: RuleParams | None = None,
                    progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Build, protect and atomically write release ``release``; returns its summary."""
    check_release_id(release)
    params = params or RuleParams(threshold=settings.publish_threshold)
    root = releases_dir(settings)
    target = root / release
    if target.exists():
        raise SdwhError(f"release {release} already exists at {target}.",
                        "Releases are immutable: publish the next quarter, or correct data "
                        "and publish it as a revision in the next release.")
    frames = _read_models(settings, release)
    issued = issued or planned_date(release)
    earlier = [r for r in existing_releases(settings) if r < release]
    previous = earlier[-1] if earlier else None
    geo = GeoParents.from_seeds(settings.seeds_dir)
    protection, sdc_records = protect_all(frames, geo, params, progress,
                                          settings.root / "publish" / "sdc-cache",
                                          worker_count(settings),
                                          settings.publish_time_budget or None)

    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".tmp-*"):  # left by a crashed run: never a release
        shutil.rmtree(stale, ignore_errors=True)
    tmp = root / f".tmp-{release}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    manifest: dict[str, str] = {}
    summary: dict[str, Any] = {"release": release, "issued": issued.isoformat(),
                               "previous_release": previous, "indicators": {}}
    all_revisions: list[dict[str, Any]] = []
    try:
        for ind in INDICATORS:
            rows = frames[ind.id]
            prot = protection[ind.id]
            table = cells.tidy(ind, rows, prot["suppressed"].to_numpy(dtype=bool),
                               prot["primary"].to_numpy(dtype=bool), release)
            table, changes = cells.mark_revisions(table, _previous_table(settings, previous, ind),
                                                  cells.key_columns(ind))
            for c in changes:
                c["indicator"] = ind.id
            all_revisions.extend(changes)
            labels = _labels(settings, ind)
            d = ind.id
            _write_file(tmp, f"{d}/{d}.csv", formats.tidy_csv(ind, table), manifest)
            _write_file(tmp, f"{d}/{d}.parquet", formats.parquet_bytes(ind, table), manifest)
            _write_file(tmp, f"{d}/{d}.sdmx.csv", formats.sdmx_csv(ind, table), manifest)
            _write_file(tmp, f"{d}/{d}.dsd.xml",
                        formats.sdmx_structure(ind, table, labels, issued.isoformat()), manifest)
            _write_file(tmp, f"{d}/{d}.jsonstat.json",
                        formats.jsonstat(ind, table, labels, issued.isoformat(), release),
                        manifest)
            n_cells = len(rows)
            meta = indicator_metadata(settings, ind, release, issued, table, prot, changes,
                                      _fallbacks(sdc_records, ind.id))
            _write_file(tmp, f"{d}/metadata.json", _json(meta), manifest)
            summary["indicators"][ind.id] = {
                "cells": n_cells, "rows": len(table),
                "suppressed_cells": int(prot["suppressed"].sum()),
                "primary_cells": int(prot["primary"].sum()),
                "revised_values": len(changes),
                "quarters": [str(rows["quarter"].min()), str(rows["quarter"].max())]}
            failpoint("publish_mid_release")
        _write_file(tmp, "sdc_audit.json", _compact_json(sdc_records), manifest)
        _write_file(tmp, "revisions.json", _json(all_revisions), manifest)
        summary["inputs_sha256"] = _frame_sha(frames)
        fallbacks = [r["table"] for r in sdc_records if "fallback" in r]
        summary["sdc"] = {"rules": params.model_dump(mode="json"),
                          "method": "primary suppression (distinct persons below the "
                          "threshold, zero and complement cells) + secondary suppression, "
                          "audited by LP" + (FALLBACK_NOTE if fallbacks else ""),
                          "tables": len(sdc_records),
                          "time_budget_seconds_per_table": settings.publish_time_budget,
                          "fallback_tables": fallbacks,
                          "audit_ok": all(r["audit_ok"] for r in sdc_records)}
        summary["revisions"] = len(all_revisions)
        summary["licence"] = LICENCE
        release_doc = {**summary, "files": dict(sorted(manifest.items()))}
        _write_file(tmp, "release.json", _json(release_doc), {})
        failpoint("publish_before_rename")
        _fsync_dir(tmp)
        os.rename(tmp, target)
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    summary["path"] = str(target)
    summary["files"] = len(manifest) + 1
    return summary


def _fallbacks(records: list[dict[str, Any]], indicator_id: str) -> list[list[str]]:
    """Tables of this indicator that fell back to suppressing every cell (time budget)."""
    return [r["table"] for r in records if "fallback" in r and indicator_id in r["intervals"]]


def indicator_metadata(settings: Settings, ind: Indicator, release: str, issued: date,
                       table: pd.DataFrame, prot: dict[str, Any],
                       changes: list[dict[str, Any]],
                       fallback_tables: list[list[str]] | None = None) -> dict[str, Any]:
    """Definition, unit, population, sources with reference dates, methods and quality."""
    fallback_tables = fallback_tables or []
    return {
        "id": ind.id, "title": ind.title, "title_nl": ind.title_nl,
        "description": ind.description, "population": ind.population,
        "release": release, "issued": issued.isoformat(), "model": ind.model,
        "dimensions": [{"id": d.id, "column": d.column, "label": d.label}
                       for d in ind.dimensions],
        "measures": [{"id": m.id, "label": m.label, "unit": m.unit,
                      "definition": (f"100 × {m.numerator} / {m.denominator}" if m.is_rate
                                     else f"count of distinct persons ({m.column})")}
                     for m in ind.measures],
        "methodology": ind.methodology,
        "sources": source_quality(settings, ind, release),
        "sdc": {"method": "primary + secondary cell suppression (disclosure/), LP audit"
                + (FALLBACK_NOTE if fallback_tables else ""),
                "fallback_tables": fallback_tables,
                "threshold_distinct_persons": settings.publish_threshold,
                "protected_counts": [t.id for t in ind.protected],
                "primary_cells": int(prot["primary"].sum()),
                "secondary_cells": int((prot["suppressed"] & ~prot["primary"]).sum())},
        "quality": {
            "provisional_quarters": sorted({q for q, p in zip(table["quarter"],
                                                                table["provisional"],
                                                                strict=True) if p}),
            "revised_values": len(changes),
            "suppressed_share": round(float(prot["suppressed"].mean()), 4)
            if len(prot["suppressed"]) else 0.0,
        },
        "licence": LICENCE, "licence_uri": LICENCE_URI,
        "revision_policy": "docs/publication.md#revision-policy",
    }


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
