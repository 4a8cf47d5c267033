"""Malformed deliveries: one clear message naming file and rule, exit 1, nothing else changed.

These run the real ``sdwh ingest FOLDER`` command, as an operator would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import dmfa_row, write_delivery


def run_ingest(folder: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sdwh", "ingest", str(folder), *extra],
                          env=os.environ.copy(), capture_output=True, text=True, timeout=120)


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes()
            for p in sorted((root / "raw").rglob("*.parquet")) if "_deliveries" not in p.name}


def _missing_column(landing: Path) -> Path:
    rows = [dmfa_row(i) for i in range(12)]
    cols = [c for c in rows[0] if c != "days"]
    return write_delivery(landing, "rsz", "dmfa_employment_lines", "2024Q3", rows, columns=cols)


def _wrong_type(landing: Path) -> Path:
    rows = [dmfa_row(i, days="sixty") for i in range(12)]
    return write_delivery(landing, "rsz", "dmfa_employment_lines", "2024Q3", rows)


def _bad_checksum(landing: Path) -> Path:
    rows = [dmfa_row(i) for i in range(12)]
    folder = write_delivery(landing, "rsz", "dmfa_employment_lines", "2024Q3", rows)
    data = next(folder.glob("*.csv"))
    data.write_bytes(data.read_bytes()[: len(data.read_bytes()) // 2])  # truncated in transit
    return folder


def _garbage(landing: Path) -> Path:
    return write_delivery(landing, "rsz", "dmfa_employment_lines", "2024Q3",
                          [dmfa_row(i) for i in range(3)], raw_bytes=bytes(range(256)) * 40)


def _garbage_with_matching_manifest(landing: Path) -> Path:
    import hashlib

    data = bytes(range(256)) * 40
    folder = write_delivery(landing, "rsz", "dmfa_employment_lines", "2024Q3", [],
                            raw_bytes=data)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"][0]["sha256"] = hashlib.sha256(data).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def _empty(landing: Path) -> Path:
    return write_delivery(landing, "rsz", "dmfa_employment_lines", "2024Q3", [], raw_bytes=b"")


def _wrong_encoding(landing: Path) -> Path:
    import hashlib

    rows = [dmfa_row(i) for i in range(3)]
    folder = write_delivery(landing, "rsz", "dmfa_employment_lines", "2024Q3", rows)
    data = next(folder.glob("*.csv"))
    latin1 = data.read_text().replace("2024Q3", "2024Q3é").encode("latin-1")
    data.write_bytes(latin1)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"][0]["sha256"] = hashlib.sha256(latin1).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def _unknown_supplier(landing: Path) -> Path:
    folder = write_delivery(landing, "rsz", "dmfa_employment_lines", "2024Q3",
                            [dmfa_row(i) for i in range(3)])
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["supplier"] = "acme"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def _no_manifest(landing: Path) -> Path:
    folder = write_delivery(landing, "rsz", "dmfa_employment_lines", "2024Q3",
                            [dmfa_row(i) for i in range(3)])
    (folder / "manifest.json").unlink()
    return folder


def _row_count(landing: Path) -> Path:
    return write_delivery(landing, "rsz", "dmfa_employment_lines", "2024Q3",
                          [dmfa_row(i) for i in range(3)], declared_rows=5)


CASES = {
    "missing column": (_missing_column, "missing_column", "days"),
    "wrong type": (_wrong_type, "type_integer", "days"),
    "bad checksum": (_bad_checksum, "checksum", "sha256"),
    "garbage bytes": (_garbage, "checksum", "sha256"),
    "garbage bytes, honest manifest": (_garbage_with_matching_manifest, "missing_column",
                                       "required by contract"),
    "empty file": (_empty, "empty_file", "empty"),
    "wrong encoding": (_wrong_encoding, "encoding", "utf-8"),
    "unknown supplier": (_unknown_supplier, "unknown_contract", "acme"),
    "no manifest": (_no_manifest, "manifest_missing", "manifest.json"),
    "row count": (_row_count, "row_count", "manifest says 5"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_delivery_gets_one_clear_message_and_changes_nothing(home, case):
    good = write_delivery(home / "landing", "rsz", "dmfa_employment_lines", "2024Q2",
                          [dmfa_row(i, quarter="2024Q2") for i in range(5)])
    assert run_ingest(good).returncode == 0
    before = snapshot(home)
    make, rule, words = CASES[case]
    folder = make(home / "incoming")

    result = run_ingest(folder)

    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout + result.stderr
    assert "Traceback" not in out
    assert rule in out and words in out
    assert str(folder) in out or folder.name in out
    assert snapshot(home) == before

    as_json = json.loads(run_ingest(folder, "--json").stdout)
    rejected = [o for o in as_json["outcomes"] if o["status"] in ("rejected", "skipped")]
    assert rejected, as_json
