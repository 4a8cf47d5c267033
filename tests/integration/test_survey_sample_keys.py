"""Survey responses keyed by the TTP's sample keys: resolved to pseudonyms at the TTP step,
refused with a named reason when no sample or another sample issued the key, and never stored.

These tests need no warehouse: the TTP's sample folders are written by hand (the same files
`sdwh sample draw` writes), so the landing logic is exercised on its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sdwh.config import Settings
from sdwh.landing.ingest import ingest_all
from sdwh.sampling.sample_keys import resolve_sample_keys

SAMPLE_A, SAMPLE_B, SAMPLE_Q3 = "lfs-a-0000000a", "lfs-b-0000000b", "lfs-q3-000000c3"


def _sample(ttp: Path, sample_id: str, quarter: str, persons: int) -> list[tuple[str, str]]:
    """A TTP sample folder with ``persons`` keys; returns (sample_key, person_id) pairs."""
    folder = ttp / sample_id
    folder.mkdir(parents=True)
    tag = sample_id[-1].upper()
    pairs = [(f"{tag}{i:011X}", f"P{sample_id}-{i:04d}") for i in range(persons)]
    pq.write_table(pa.table({"sample_id": [sample_id] * persons,
                             "sample_key": [k for k, _ in pairs],
                             "person_id": [p for _, p in pairs]}), folder / "link.parquet")
    (folder / "summary.json").write_text(json.dumps({"reference_quarter": quarter}))
    return pairs


def _row(sample_id: str, key: str, status: str = "1") -> dict[str, str]:
    return {"sample_id": sample_id, "sample_key": key, "quarter": "2025Q4",
            "interview_date": "2025-11-03", "ilo_status": status,
            "usual_weekly_hours": "38" if status == "1" else ""}


@pytest.fixture
def ttp(settings: Settings) -> dict[str, list[tuple[str, str]]]:
    base = settings.root / "ttp" / "samples"
    return {SAMPLE_A: _sample(base, SAMPLE_A, "2025Q4", 40),
            SAMPLE_B: _sample(base, SAMPLE_B, "2025Q4", 10),
            SAMPLE_Q3: _sample(base, SAMPLE_Q3, "2025Q3", 5)}


def test_each_refused_key_gets_its_own_reason(settings: Settings, ttp) -> None:
    a, b, q3 = ttp[SAMPLE_A], ttp[SAMPLE_B], ttp[SAMPLE_Q3]
    pairs = [(SAMPLE_A, a[0][0]), (SAMPLE_A, b[0][0]), (SAMPLE_A, "FFFFFFFFFFFF"),
             ("lfs-x-99999999", a[1][0]), (SAMPLE_Q3, q3[0][0]), (SAMPLE_B, b[1][0]), ("", "")]
    found = resolve_sample_keys(pa.array([k for _, k in pairs]), pa.array([s for s, _ in pairs]),
                                "2025Q4", settings.root / "ttp" / "samples")
    assert found.reasons.to_pylist() == [
        None, "sample_key_foreign", "sample_key_unknown", "sample_unknown",
        "sample_period_mismatch", None, None]
    assert found.person_ids.to_pylist() == [a[0][1], None, None, None, None, b[1][1], None]


def test_sample_key_delivery_is_resolved_accounted_and_stores_no_key(
        settings: Settings, ttp, deliver: Callable[..., Path]) -> None:
    a, b = ttp[SAMPLE_A], ttp[SAMPLE_B]
    good = [_row(SAMPLE_A, k, "1" if i % 3 else "2") for i, (k, _) in enumerate(a[:30])]
    bad = [_row(SAMPLE_A, b[0][0]), _row(SAMPLE_A, b[1][0]),     # keys of another sample
           _row(SAMPLE_A, "0123456789AB"),                        # a key no sample issued
           _row("lfs-x-99999999", a[30][0]),                      # a sample never drawn
           _row(SAMPLE_A, a[0][0], "3")]                          # same key, other answers
    deliver("statbel", "lfs_responses_by_key", "2025Q4", good + bad)
    outcome = ingest_all(settings).outcomes[0]
    assert outcome.status == "accepted", outcome
    assert (outcome.rows_in, outcome.rows_accepted, outcome.rows_quarantined) == (35, 29, 6)
    assert outcome.rows_in == outcome.rows_accepted + outcome.rows_quarantined

    raw = pq.read_table(next((settings.raw_dir / "statbel" / "lfs_responses_by_key" / "2025Q4")
                             .glob("*/data.parquet")))
    assert "sample_key" not in raw.column_names
    assert sorted(raw["person_id"].to_pylist()) == sorted(p for _, p in a[1:30])
    keys = {k for pairs in ttp.values() for k, _ in pairs}
    for column in raw.column_names:
        assert not keys & {str(v) for v in raw[column].to_pylist()}, column

    quarantine = pq.read_table(next((settings.quarantine_dir / "statbel" / "lfs_responses_by_key"
                                     / "2025Q4").glob("*/rows.parquet"))).to_pylist()
    reasons = sorted((r["field"], r["rule"]) for r in quarantine)
    assert reasons == sorted([("sample_key", "sample_key_foreign")] * 2 + [
        ("sample_key", "sample_key_unknown"), ("sample_key", "sample_unknown"),
        ("sample_key", "duplicate_key"), ("sample_key", "duplicate_key")])


def test_a_delivery_for_another_sample_is_rejected_whole(
        settings: Settings, ttp, deliver: Callable[..., Path]) -> None:
    """Every key foreign to the named sample: the delivery itself is wrong, nothing is stored."""
    b = ttp[SAMPLE_B]
    deliver("statbel", "lfs_responses_by_key", "2025Q4", [_row(SAMPLE_A, k) for k, _ in b])
    outcome = ingest_all(settings).outcomes[0]
    assert (outcome.status, outcome.rule) == ("rejected", "sample_key_foreign")
    assert "sample_key" in outcome.message
    assert not (settings.raw_dir / "statbel" / "lfs_responses_by_key").exists()
