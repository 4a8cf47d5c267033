"""The generator and the landing zone agree: clean data pass whole, defects land where due."""

from __future__ import annotations

import duckdb

from sdwh.landing.ingest import ingest_all
from sdwh.synth.defects import DefectRates
from sdwh.synth.generate import generate


def test_clean_synthetic_deliveries_are_accepted_without_quarantine(settings):
    generate(settings.landing_dir, 3000, "2024Q4", "2025Q1", seed=5, defects=DefectRates.none())
    summary = ingest_all(settings)
    assert summary.count("rejected") == 0, [o for o in summary.outcomes if o.rule]
    assert summary.as_dict()["rows_quarantined"] == 0
    assert summary.as_dict()["rows_in"] == summary.as_dict()["rows_accepted"] > 0


def test_synthetic_defects_end_in_quarantine_or_rejection(settings):
    generate(settings.landing_dir, 3000, "2024Q1", "2025Q4", seed=11, defects=DefectRates())
    summary = ingest_all(settings)
    rejected = {o.rule for o in summary.outcomes if o.status == "rejected"}
    assert rejected == {"checksum", "amount_out_of_range"}  # truncated file, undeclared cents
    rules = {r[0] for r in duckdb.execute(
        f"SELECT DISTINCT rule FROM '{settings.quarantine_dir}/**/rows.parquet'").fetchall()}
    assert {"insz_check_digit", "bis_month_invalid", "refnis_unknown", "duplicate_row"} <= rules
    assert "nace_unknown" not in rules and "code_unknown" not in rules
    pre_merger = duckdb.execute(
        f"SELECT count(*) FROM '{settings.raw_dir}/rr/population/2025/*/data.parquet' "
        "WHERE refnis_residence_reported <> refnis_residence").fetchone()[0]
    assert pre_merger > 0


def test_the_same_deliveries_give_byte_identical_raw_stores(tmp_path, monkeypatch):
    from sdwh.config import Settings

    stores = []
    for name in ("a", "b"):
        monkeypatch.setenv("SDWH_HOME", str(tmp_path / name))
        monkeypatch.setenv("SDWH_TTP_KEY", "cd" * 32)
        settings = Settings()
        generate(settings.landing_dir, 2000, "2024Q4", "2025Q1", seed=3, defects=DefectRates())
        ingest_all(settings)
        stores.append({p.relative_to(settings.raw_dir): p.read_bytes()
                       for p in settings.raw_dir.rglob("data.parquet")})
    assert stores[0] == stores[1] and len(stores[0]) > 10
