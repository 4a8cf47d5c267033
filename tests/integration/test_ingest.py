"""Ingest on hand-made deliveries: reasons, accounting, idempotence, revisions, crashes."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from conftest import dmfa_row, vdab_row

from sdwh.deliveries import register
from sdwh.landing.ingest import ingest_all


def quarantined(settings, supplier: str) -> dict[int, str]:
    rows = duckdb.execute(
        f"SELECT row_number, rule FROM '{settings.quarantine_dir}/{supplier}/**/rows.parquet'"
    ).fetchall()
    return dict(rows)


def raw_rows(settings, supplier: str) -> list[dict]:
    return duckdb.execute(
        f"SELECT * FROM '{settings.raw_dir}/{supplier}/**/data.parquet'").df().to_dict("records")


def test_each_record_fault_ends_in_its_quarantine_reason(settings, deliver):
    rows = [dmfa_row(i) for i in range(40)]
    faults = {
        2: ("insz", rows[2]["insz"][:9] + f"{(int(rows[2]['insz'][9:]) % 97) + 1:02d}",
            "insz_check_digit"),
        3: ("insz", rows[3]["insz"][:2] + "35" + rows[3]["insz"][4:], "insz_check_digit"),
        4: ("insz", "12345", "insz_malformed"),
        5: ("local_unit_refnis", "99999", "refnis_unknown"),
        6: ("local_unit_refnis", "46030", "refnis_not_valid_for_period"),  # a 2025 code in 2024
        7: ("worker_class", "9", "code_unknown"),
        8: ("days", "abc", "type_integer"),
        9: ("days", "120", "out_of_range"),
        10: ("quarter", "2024Q2", "period_mismatch"),
        11: ("employer_kbo", "0403019262", "kbo_invalid"),
        12: ("rsz_employer_number", "123456748", "rsz_employer_invalid"),
        13: ("gross_wage", "99999999999", "amount_out_of_range"),
        14: ("nace_division", "04", "nace_unknown"),
        15: ("insz", "", "missing_value"),
    }
    for i, (field, value, _) in faults.items():
        rows[i][field] = value
    rows.append(dict(rows[20]))  # an exact repeat: line 41
    rows.append({**rows[21], "days": "30"})  # same key as line 22, other content
    deliver("rsz", "dmfa_employment_lines", "2024Q3", rows)

    outcome = ingest_all(settings).outcomes[0]

    got = quarantined(settings, "rsz")
    for i, (_, _, rule) in faults.items():
        assert got[i + 1] == rule, f"line {i + 1}"
    assert got[41] == "duplicate_row"
    assert got[22] == "duplicate_key" and got[42] == "duplicate_key"
    assert outcome.rows_in == 42 == outcome.rows_accepted + outcome.rows_quarantined
    assert outcome.rows_quarantined == len(faults) + 3
    assert len(raw_rows(settings, "rsz")) == outcome.rows_accepted


def test_bis_numbers_are_accepted_and_invalid_bis_months_quarantined(settings, deliver):
    from datetime import date

    from sdwh.identifiers import insz_check_digits, make_insz

    rows = [vdab_row(i) for i in range(3)]
    rows[0]["insz"] = make_insz(date(1990, 5, 1), 11, bis_offset=40)
    body = "903501011"  # month 35: neither national register nor BIS
    rows[1]["insz"] = body + f"{insz_check_digits(body, False):02d}"
    deliver("vdab", "jobseekers", "2024-07", rows)
    ingest_all(settings)
    assert quarantined(settings, "vdab") == {2: "bis_month_invalid"}
    kinds = sorted(r["person_id_kind"] for r in raw_rows(settings, "vdab"))
    assert kinds == ["bis", "rr"]


def test_pre_merger_codes_in_2025_are_harmonised_not_rejected(settings, deliver):
    rows = [vdab_row(i, month="2025-02") for i in range(3)]
    rows[0]["refnis_residence"] = "46003"  # Beveren, merged into 46030 on 2025-01-01
    rows[1]["refnis_residence"] = "46030"
    deliver("vdab", "jobseekers", "2025-02", rows)
    ingest_all(settings)
    got = {r["refnis_residence_reported"]: r["refnis_residence"] for r in raw_rows(settings,
                                                                                  "vdab")}
    assert got == {"46003": "46030", "46030": "46030", "44021": "44021"}


@pytest.mark.parametrize(("unit", "sent", "euros"),
                         [(None, "1234567", 12345.67), ("eur", "12345.67", 12345.67),
                          ("keur", "12.34567", 12345.67)])
def test_amounts_are_harmonised_to_euros(settings, deliver, unit, sent, euros):
    rows = [dmfa_row(i, gross_wage=sent) for i in range(3)]
    deliver("rsz", "dmfa_employment_lines", "2024Q3", rows,
            units={"gross_wage": unit} if unit else None)
    ingest_all(settings)
    assert {float(r["gross_wage_eur"]) for r in raw_rows(settings, "rsz")} == {euros}


def test_undeclared_unit_rejects_the_whole_delivery(settings, deliver):
    rows = [dmfa_row(i, gross_wage="2500000000") for i in range(20)]  # euros sent as 1/100 c
    deliver("rsz", "dmfa_employment_lines", "2024Q3", rows)
    outcome = ingest_all(settings).outcomes[0]
    assert outcome.status == "rejected" and outcome.rule == "amount_out_of_range"
    assert "units" in outcome.hint
    assert not (settings.raw_dir / "rsz").exists()


def test_no_national_number_reaches_the_raw_store(settings, deliver):
    rows = [dmfa_row(i) for i in range(50)]
    deliver("rsz", "dmfa_employment_lines", "2024Q3", rows)
    ingest_all(settings)
    blob = b"".join(p.read_bytes() for p in settings.raw_dir.rglob("*.parquet"))
    assert not any(r["insz"].encode() in blob for r in rows)
    assert all(len(r["person_id"]) == 32 for r in raw_rows(settings, "rsz"))


def test_each_national_number_is_hashed_once_per_run(settings, deliver, monkeypatch):
    from sdwh.ttp.pseudonym import PseudonymCache, pseudonymise

    hashed: list[bytes] = []
    real = PseudonymCache._hmac

    def counting(self, value):
        hashed.append(value)
        return real(self, value)

    monkeypatch.setattr(PseudonymCache, "_hmac", counting)
    for quarter in ("2024Q3", "2024Q4"):  # the same 30 persons in two periods
        deliver("rsz", "dmfa_employment_lines", quarter, [dmfa_row(i, quarter) for i in range(30)])
    ingest_all(settings)
    assert len(hashed) == len(set(hashed)) == 30
    key = bytes.fromhex(os.environ["SDWH_TTP_KEY"])
    assert {r["person_id"] for r in raw_rows(settings, "rsz")} == {
        pseudonymise(dmfa_row(i)["insz"], key) for i in range(30)}


def test_reingesting_the_same_delivery_changes_nothing(settings, deliver):
    deliver("rsz", "dmfa_employment_lines", "2024Q3", [dmfa_row(i) for i in range(10)])
    first = ingest_all(settings)
    files = {p: p.read_bytes() for p in settings.raw_dir.rglob("data.parquet")}
    second = ingest_all(settings)
    assert [o.status for o in first.outcomes] == ["accepted"]
    assert [o.status for o in second.outcomes] == ["skipped"]
    assert {p: p.read_bytes() for p in settings.raw_dir.rglob("data.parquet")} == files


def test_a_revised_delivery_supersedes_the_previous_one(settings, deliver):
    deliver("rsz", "dmfa_employment_lines", "2024Q3", [dmfa_row(i) for i in range(10)])
    ingest_all(settings)
    deliver("rsz", "dmfa_employment_lines", "2024Q3", [dmfa_row(i) for i in range(12)],
            revision=2, sent_at=datetime(2025, 4, 1, tzinfo=UTC))
    ingest_all(settings)
    with register.open_register(settings.register_path) as reg:
        rows = register.all_deliveries(reg)
    assert [(r["revision"], r["status"]) for r in rows] == [(1, "superseded"), (2, "accepted")]
    assert rows[0]["superseded_by"] == rows[1]["delivery_id"]
    assert Path(rows[0]["raw_path"]).is_dir(), "history is kept"


def test_a_late_older_revision_is_kept_as_history_only(settings, deliver):
    deliver("rsz", "dmfa_employment_lines", "2024Q3", [dmfa_row(i) for i in range(12)],
            revision=2)
    ingest_all(settings)
    deliver("rsz", "dmfa_employment_lines", "2024Q3", [dmfa_row(i) for i in range(10)])
    outcomes = ingest_all(settings).outcomes
    assert sorted(o.status for o in outcomes) == ["skipped", "superseded"]


def test_reusing_a_revision_number_with_other_content_is_rejected(settings, deliver):
    folder = deliver("rsz", "dmfa_employment_lines", "2024Q3", [dmfa_row(i) for i in range(5)])
    ingest_all(settings)
    folder.rename(folder.with_name("first"))
    deliver("rsz", "dmfa_employment_lines", "2024Q3", [dmfa_row(i) for i in range(6)])
    outcome = next(o for o in ingest_all(settings).outcomes if o.status != "skipped")
    assert (outcome.status, outcome.rule) == ("rejected", "revision_conflict")


def test_lines_with_a_wrong_field_count_are_quarantined_and_counted(settings, deliver):
    rows = [dmfa_row(i) for i in range(5)]
    folder = deliver("rsz", "dmfa_employment_lines", "2024Q3", rows)
    data = next(folder.glob("*.csv"))
    text = data.read_text().rstrip("\n") + "\n85073003328;2024Q3;only-three\n"
    # rewrite the delivery consistently: the supplier really sent this line
    import hashlib
    import json
    data.write_text(text)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"][0].update(sha256=hashlib.sha256(text.encode()).hexdigest(), rows=6)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    outcome = ingest_all(settings).outcomes[0]
    assert (outcome.rows_in, outcome.rows_accepted, outcome.rows_quarantined) == (6, 5, 1)
    assert list(quarantined(settings, "rsz").values()) == ["csv_field_count"]


def _ingest_in_subprocess(env_extra: dict[str, str]) -> int:
    env = {**os.environ, **env_extra}
    return subprocess.run([sys.executable, "-m", "sdwh", "ingest", "--json"], env=env,
                          capture_output=True, timeout=120).returncode


@pytest.mark.parametrize("point", ["after_raw_write", "after_quarantine_write"])
def test_a_crash_mid_ingest_leaves_no_state_and_a_rerun_converges(settings, deliver, point,
                                                                   tmp_path):
    deliver("rsz", "dmfa_employment_lines", "2024Q3", [dmfa_row(i) for i in range(10)])
    assert _ingest_in_subprocess({"SDWH_FAILPOINT": point}) == 70
    with register.open_register(settings.register_path) as reg:
        assert register.all_deliveries(reg) == []
    assert _ingest_in_subprocess({}) == 0
    with register.open_register(settings.register_path) as reg:
        rows = register.all_deliveries(reg)
    assert [r["status"] for r in rows] == ["accepted"]
    assert not list(settings.raw_dir.rglob(".tmp-*"))
    crashed = next(settings.raw_dir.rglob("data.parquet")).read_bytes()
    # a clean run elsewhere gives the same bytes
    clean_home = tmp_path / "clean"
    env = {"SDWH_HOME": str(clean_home)}
    os.makedirs(clean_home / "landing")
    for src in settings.landing_dir.iterdir():
        os.symlink(src, clean_home / "landing" / src.name)
    assert _ingest_in_subprocess(env) == 0
    assert next((clean_home / "raw").rglob("data.parquet")).read_bytes() == crashed
