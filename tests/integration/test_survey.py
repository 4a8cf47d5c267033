"""TTP survey services end to end: sample, contact file, responses through the landing zone,
linkage accounting, calibrated weights, and the survey × register thematic dataset."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

TEST_TTP_KEY = "ab" * 32  # the key tests/conftest.py builds the small warehouse with

DESIGN = """\
name: lfs-test
reference_quarter: 2025Q4
population: {min_age: 15, max_age: 74}
strata: [province]
allocation: neyman
neyman_variable: working
sample_size: 300
min_per_stratum: 10
cluster: household
contact_fields: [insz, municipality_refnis, birth_year, household_key]
"""


def sdwh(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "SDWH_HOME": str(home), "SDWH_TTP_KEY": TEST_TTP_KEY}
    run = subprocess.run([sys.executable, "-m", "sdwh", *args], capture_output=True, text=True,
                         env=env, check=False)
    if check and run.returncode != 0:
        raise AssertionError(f"sdwh {' '.join(args)} failed:\n{run.stdout}\n{run.stderr}")
    return run


@pytest.fixture(scope="module")
def world(small_warehouse: Path) -> dict:
    home = small_warehouse
    design = home / "design.yml"
    design.write_text(DESIGN)
    drawn = json.loads(sdwh(home, "sample", "draw", "--design", str(design), "--seed", "9",
                            "--json").stdout)
    again = json.loads(sdwh(home, "sample", "draw", "--design", str(design), "--seed", "9",
                            "--json").stdout)
    responses = json.loads(sdwh(home, "sample", "synth-responses", drawn["sample_id"],
                                "--seed", "4", "--json").stdout)
    sdwh(home, "ingest", "--json", check=False)
    linkage = json.loads(sdwh(home, "sample", "link", drawn["sample_id"], "--json").stdout)
    built = json.loads(sdwh(home, "build", "--json").stdout)
    return {"home": home, "design": design, "drawn": drawn, "again": again,
            "responses": responses, "linkage": linkage, "built": built}


def test_same_design_and_seed_give_the_same_sample_and_another_seed_another(world) -> None:
    home, drawn = world["home"], world["drawn"]
    assert world["again"]["sample_id"] == drawn["sample_id"]
    folder = Path(drawn["folder"])
    before = (folder / "link.parquet").read_bytes(), (folder / "outbox/contact.csv").read_bytes()
    other = json.loads(sdwh(home, "sample", "draw", "--design", str(world["design"]), "--seed",
                            "10", "--json").stdout)
    assert other["sample_id"] != drawn["sample_id"]
    a = pq.read_table(folder / "link.parquet").column("person_id").to_pylist()
    b = pq.read_table(Path(other["folder"]) / "link.parquet").column("person_id").to_pylist()
    assert set(a) != set(b)
    assert ((folder / "link.parquet").read_bytes(),
            (folder / "outbox/contact.csv").read_bytes()) == before


def test_allocation_and_inclusion_probabilities_add_up(world) -> None:
    drawn = world["drawn"]
    assert sum(s["sampled"] for s in drawn["strata"]) == drawn["units_sampled"] == 300
    assert all(s["sampled"] >= 10 for s in drawn["strata"])
    link = pd.read_parquet(Path(drawn["folder"]) / "link.parquet")
    households = link.drop_duplicates("household_key")
    # Σ 1/π over sampled households estimates the number of households per stratum exactly.
    for s in drawn["strata"]:
        in_stratum = households[households["stratum"] == s["stratum"]]
        assert in_stratum["design_weight"].sum() == pytest.approx(s["units"])


def test_contact_file_carries_only_what_the_survey_organisation_may_receive(world) -> None:
    folder = Path(world["drawn"]["folder"])
    contact = pd.read_csv(folder / "outbox/contact.csv", dtype=str)
    assert list(contact.columns) == ["sample_key", "household_key", "municipality_refnis",
                                     "birth_year", "insz"]
    link = pd.read_parquet(folder / "link.parquet")
    text = (folder / "outbox/contact.csv").read_text()
    assert not any(p in text for p in link["person_id"]), "a pseudonym reached the contact file"
    assert contact["insz"].str.fullmatch(r"\d{11}").all()
    for path in (folder / "link.parquet", folder / "outbox/contact.csv"):
        assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct((world["home"] / "ttp").stat().st_mode & 0o777) == "0o700"


def test_responses_land_pseudonymised_and_no_insz_passes_the_ttp(world) -> None:
    raw = world["home"] / "raw" / "statbel"
    files = sorted(raw.rglob("*.parquet"))
    assert files
    for path in files:
        table = pq.read_table(path)
        assert "insz" not in table.column_names
        for column in table.column_names:
            values = [str(v) for v in table.column(column).to_pylist()[:200]]
            assert not any(re.fullmatch(r"\d{11}", v) for v in values), (path, column)


def test_linkage_accounts_for_every_response(world) -> None:
    linkage, responses = world["linkage"], world["responses"]
    assert linkage["delivered"] == responses["responses"]
    assert linkage["delivered"] == linkage["linked"] + sum(linkage["unlinked"].values())
    assert linkage["linkage_rate"] == 1.0
    rates = [s["response_rate"] for s in linkage["nonresponse"]]
    assert 0.3 < min(rates) <= max(rates) < 0.95


def test_calibrated_weights_reproduce_the_register_margins(world) -> None:
    home = world["home"]
    con = duckdb.connect(str(home / "warehouse" / "sdwh.duckdb"), read_only=True)
    survey = con.execute(
        "select sex_code, sum(calibrated_weight) from thematic.thm_survey_admin_comparison "
        "group by 1 order by 1").fetchall()
    register = con.execute(
        "select sex_code, count(*) from integrated.int_person_quarter "
        "where quarter = '2025Q4' and age between 15 and 74 group by 1 order by 1").fetchall()
    assert [s for s, _ in survey] == [s for s, _ in register]
    for (_, weighted), (_, count) in zip(survey, register, strict=True):
        assert weighted == pytest.approx(count, rel=1e-6)
    rows, linked = con.execute("select count(*), count(distinct person_id) from "
                               "thematic.thm_survey_admin_comparison").fetchone()
    assert rows == linked == world["linkage"]["linked"]
    assert world["built"]["failures"] == []


def test_a_bad_design_is_refused_with_one_clear_sentence(world, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(DESIGN.replace("strata: [province]", "strata: [sex]"))
    run = sdwh(world["home"], "sample", "draw", "--design", str(bad), "--seed", "1",
               check=False)
    assert run.returncode == 1
    assert "household-level" in run.stderr and "Traceback" not in run.stderr


def test_disclosure_checks_weight_estimates_but_count_respondents(world) -> None:
    """A weighted survey table is judged on the persons behind each cell, not on the weights."""
    from disclosure.outputs import frequency_table

    con = duckdb.connect(str(world["home"] / "warehouse" / "sdwh.duckdb"), read_only=True)
    df = con.execute("select * from thematic.thm_survey_admin_comparison").df()
    verdict = frequency_table(df, ["ilo_status_code", "sex_code"], unit="person_id",
                              weight="calibrated_weight")
    counts = df.groupby(["ilo_status_code", "sex_code"])["person_id"].nunique()
    small = {k for k, n in counts.items() if n < 10}
    flagged = {(c["ilo_status_code"], c["sex_code"]) for c in verdict.failing_cells}
    assert small <= flagged
    assert all(c["n_units"] < 10 for c in verdict.failing_cells if "threshold" in c["rules"])
