"""Shared fixtures: an isolated SDWH_HOME and hand-made deliveries built from contracts."""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sdwh.config import Settings
from sdwh.identifiers import make_insz, make_kbo, make_rsz_employer
from sdwh.landing.contracts import find_contract
from sdwh.landing.manifest import DeliveredFile, Manifest


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data root with a fixed TTP key, so pseudonyms are reproducible in tests."""
    root = tmp_path / "home"
    monkeypatch.setenv("SDWH_HOME", str(root))
    monkeypatch.setenv("SDWH_TTP_KEY", "ab" * 32)
    return root


@pytest.fixture
def settings(home: Path) -> Settings:
    return Settings()


#: The small warehouse most integration tests read: built once per test run, copied per module.
SMALL_WAREHOUSE = {"persons": "2000", "from": "2024Q1", "to": "2025Q4", "seed": "7"}
TEST_TTP_KEY = "ab" * 32


def _run_sdwh(home: Path, *args: str) -> None:
    env = {**os.environ, "SDWH_HOME": str(home), "SDWH_TTP_KEY": TEST_TTP_KEY}
    run = subprocess.run([sys.executable, "-m", "sdwh", *args], capture_output=True, text=True,
                         env=env, check=False)
    if run.returncode != 0 and args[0] != "ingest":  # synthetic defects reject some deliveries
        raise RuntimeError(f"sdwh {' '.join(args)} failed:\n{run.stdout}\n{run.stderr}")


@pytest.fixture(scope="session")
def small_warehouse_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """synth → ingest → build once for the whole run, shared by the xdist workers.

    The workers' temporary roots share a parent; a lock there makes the first worker build
    while the others wait (the pattern pytest-xdist documents for once-per-run fixtures).
    """
    base = tmp_path_factory.getbasetemp()
    root = base.parent if base.name.startswith("popen-gw") else base
    template = root / "small-warehouse"
    with (root / "small-warehouse.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (template / "READY").exists():
            shutil.rmtree(template, ignore_errors=True)
            w = SMALL_WAREHOUSE
            _run_sdwh(template, "synth", "--persons", w["persons"], "--from", w["from"],
                      "--to", w["to"], "--seed", w["seed"])
            _run_sdwh(template, "ingest", "--json")
            _run_sdwh(template, "build", "--json")
            (template / "READY").touch()
    return template


@pytest.fixture(scope="module")
def small_warehouse(small_warehouse_template: Path,
                    tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the small built warehouse (a data root), for one test module.

    Staging views read the raw store by absolute path, so they still point at the template's
    raw files: fine for readers of the warehouse; a module that ingests more must rebuild.
    """
    home = tmp_path_factory.mktemp("warehouse-home")
    shutil.copytree(small_warehouse_template, home, dirs_exist_ok=True, symlinks=True)
    (home / "READY").unlink()
    return home


def dmfa_row(i: int, quarter: str = "2024Q3", **overrides: Any) -> dict[str, str]:
    """A valid RSZ DmfA line for person ``i``."""
    row = {
        "insz": make_insz(date(1970 + i % 40, 1 + i % 12, 1 + i % 28), 1 + 2 * (i % 400)),
        "quarter": quarter,
        "employer_kbo": make_kbo(4000000 + i % 50),
        "rsz_employer_number": make_rsz_employer(1000 + i % 50),
        "local_unit_refnis": "11002",
        "local_unit_size_class": "4",
        "nace_division": "47",
        "worker_class": "2",
        "days": "65",
        "parttime_pct": "100",
        "gross_wage": str(1_000_000 + i),  # cents
    }
    return {**row, **overrides}


def vdab_row(i: int, month: str = "2024-07", **overrides: Any) -> dict[str, str]:
    row = {
        "insz": make_insz(date(1980 + i % 30, 1 + i % 12, 1 + i % 28), 2 + 2 * (i % 400)),
        "snapshot_date": f"{month}-28",
        "nwwz_category": "00",
        "wzw_group": "WZUA",
        "bemiddelingsstatus": "1",
        "registration_date": "2023-05-01",
        "isced_level": "3",
        "refnis_residence": "44021",
    }
    return {**row, **overrides}


def write_delivery(landing: Path, supplier: str, dataset: str, period: str,
                   rows: list[dict[str, str]], revision: int = 1,
                   sent_at: datetime | None = None, units: dict[str, str] | None = None,
                   raw_bytes: bytes | None = None, declared_rows: int | None = None,
                   columns: list[str] | None = None) -> Path:
    """Write a delivery folder the way a supplier would, with a correct manifest.

    ``raw_bytes`` replaces the data file's content after the manifest was computed from the
    rows (to simulate damage in transit); ``columns`` overrides the header.
    """
    contract = find_contract(supplier, dataset)
    assert contract is not None
    cols = columns or contract.column_names
    folder = landing / f"{supplier}__{dataset}__{period}__r{revision}"
    folder.mkdir(parents=True)
    if contract.format == "csv":
        name = f"{dataset}_{period}.csv"
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter=contract.csv.delimiter, lineterminator="\n")
        writer.writerow(cols)
        writer.writerows([[r.get(c, "") for c in cols] for r in rows])
        data = buf.getvalue().encode(contract.csv.encoding)
    else:
        name = f"{dataset}_{period}.parquet"
        sink = pa.BufferOutputStream()
        pq.write_table(pa.table({c: [r.get(c) for r in rows] for c in cols}), sink)
        data = sink.getvalue().to_pybytes()
    manifest = Manifest(
        supplier=supplier, dataset=dataset, reference_period=period, revision=revision,
        sent_at=sent_at or datetime(2025, 1, 10, tzinfo=UTC),
        files=[DeliveredFile(name=name, sha256=hashlib.sha256(data).hexdigest(),
                             rows=len(rows) if declared_rows is None else declared_rows)],
        units=units or {},
    )
    (folder / name).write_bytes(raw_bytes if raw_bytes is not None else data)
    (folder / "manifest.json").write_text(manifest.dump())
    return folder


@pytest.fixture
def deliver(settings: Settings) -> Callable[..., Path]:
    def _deliver(*args: Any, **kwargs: Any) -> Path:
        return write_delivery(settings.landing_dir, *args, **kwargs)
    return _deliver
