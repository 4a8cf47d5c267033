"""TTP survey services end to end: sample, contact file, responses through the landing zone
(keyed by INSZ and by the TTP's sample keys), linkage accounting, calibrated weights, and the
survey × register thematic dataset."""

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

from sdwh.landing.manifest import delivery_id, read_manifest

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
    weights = Path(home, "raw/statbel/lfs_weights/2025Q4", drawn["sample_id"], "data.parquet")
    insz_weights = pd.read_parquet(weights)
    # The same fieldwork delivered by sample key: the quarter then has two response
    # deliveries, so `link` must be told which one; the weights of this one are built.
    by_key = json.loads(sdwh(home, "sample", "synth-responses", drawn["sample_id"], "--seed",
                             "4", "--keyed-by", "sample_key", "--json").stdout)
    sdwh(home, "ingest", "--json", check=False)
    ambiguous = sdwh(home, "sample", "link", drawn["sample_id"], check=False)
    key_delivery = delivery_id(read_manifest(Path(by_key["delivery"])))
    key_linkage = json.loads(sdwh(home, "sample", "link", drawn["sample_id"], "--delivery",
                                  key_delivery, "--json").stdout)
    built = json.loads(sdwh(home, "build", "--json").stdout)
    return {"home": home, "design": design, "drawn": drawn, "again": again,
            "responses": responses, "linkage": linkage, "built": built,
            "insz_weights": insz_weights, "key_weights": pd.read_parquet(weights),
            "by_key": by_key, "ambiguous": ambiguous, "key_linkage": key_linkage}


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


def test_both_delivery_forms_give_the_same_linked_panel(world) -> None:
    """INSZ or sample keys: the same respondents, linked to the same persons, same weights."""
    insz, keyed = world["insz_weights"], world["key_weights"]
    assert world["by_key"]["dataset"] == "lfs_responses_by_key"
    assert world["by_key"]["responses"] == world["responses"]["responses"]
    assert insz["delivery_id"].nunique() == keyed["delivery_id"].nunique() == 1
    assert insz["delivery_id"].iloc[0] != keyed["delivery_id"].iloc[0]
    pd.testing.assert_frame_equal(insz.drop(columns="delivery_id"),
                                  keyed.drop(columns="delivery_id"))
    a, b = world["linkage"], world["key_linkage"]
    assert b["delivered"] == b["linked"] + sum(b["unlinked"].values())
    drop = ("delivery_id",)
    assert {k: v for k, v in a.items() if k not in drop} == {
        k: v for k, v in b.items() if k not in drop}


def test_link_asks_which_delivery_when_a_quarter_has_two(world) -> None:
    run = world["ambiguous"]
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "2 accepted LFS response deliveries for 2025Q4" in run.stderr
    assert "--delivery" in run.stderr


def test_no_sample_key_reaches_the_raw_store_or_the_warehouse(world) -> None:
    home = world["home"]
    keys = set()
    for link in (home / "ttp" / "samples").glob("*/link.parquet"):
        keys |= set(pd.read_parquet(link, columns=["sample_key", "household_key"])
                    .stack().tolist())
    assert len(keys) > 300
    for path in sorted((home / "raw" / "statbel").rglob("*.parquet")):
        table = pq.read_table(path)
        assert "sample_key" not in table.column_names
        for column in table.column_names:
            assert not keys & {str(v) for v in table.column(column).to_pylist()}, (path, column)
    con = duckdb.connect(str(home / "warehouse" / "sdwh.duckdb"), read_only=True)
    tables = con.execute("select table_schema, table_name from information_schema.tables "
                         "where table_name like '%survey%' or table_name like '%statbel%'"
                         ).fetchall()
    assert len(tables) >= 3
    for schema, name in tables:
        frame = con.execute(f'select * from "{schema}"."{name}"').df()
        assert "sample_key" not in frame.columns
        values = {str(v) for column in frame.columns for v in frame[column].tolist()}
        assert not keys & values, (schema, name)
        assert not any(re.fullmatch(r"\d{11}", v) for v in values), (schema, name)


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


def test_airlock_judges_a_weighted_survey_table_on_its_respondents(world, tmp_path: Path) -> None:
    """A researcher's weighted count table: every cell with fewer than 10 respondents fails,
    even though its published (weighted) value is far above 10; no other cell fails."""
    from disclosure.rules import RuleParams
    from sdwh.airlock.checks import check_query_table
    from sdwh.airlock.model import RequestFile

    wh = duckdb.connect(str(world["home"] / "warehouse" / "sdwh.duckdb"), read_only=True)
    df = wh.execute("select * from thematic.thm_survey_admin_comparison").df()
    con = duckdb.connect()
    con.register("thm_survey_admin_comparison", df)
    query = ("select ilo_status_code, sex_code, sum(calibrated_weight) as persons "
             "from thm_survey_admin_comparison group by ilo_status_code, sex_code")
    published = con.execute(query).df()
    path = tmp_path / "weighted.csv"
    published.to_csv(path, index=False)
    file = RequestFile(name="weighted.csv", sha256="0" * 64, bytes=path.stat().st_size,
                       kind="table", query={"query": query})
    check, _ = check_query_table(con, {"thm_survey_admin_comparison": list(df.columns)}, file,
                                 path, RuleParams())
    respondents = df.groupby(["ilo_status_code", "sex_code"])["person_id"].nunique()
    small = {k for k, n in respondents.items() if n < 10}
    assert small, "the fixture should have small survey cells"
    weighted = published.set_index(["ilo_status_code", "sex_code"])["persons"]
    assert any(weighted[k] >= 10 for k in small)  # the weighted value would hide them
    failing = {(c["cell"]["ilo_status_code"], c["cell"]["sex_code"])
               for c in check.evidence["failing_cells"]}
    assert check.status == "fail" and failing == small
    assert all(c["rules"] == ["threshold"] for c in check.evidence["failing_cells"])


def test_linkage_reports_jackknife_standard_errors(world) -> None:
    """One replicate per responding household; the ILO totals add up to the population."""
    linkage = world["linkage"]
    estimates = linkage["estimates"]
    link = pd.read_parquet(Path(world["drawn"]["folder"]) / "link.parquet")
    linked = link[link["person_id"].isin(world["insz_weights"]["person_id"])]
    assert estimates["psu"] == "household"
    assert estimates["replicates"] == linked["household_key"].nunique()
    assert estimates["not_recalibrated"] == 0
    totals = [e["weighted_total"] for e in estimates["ilo_status"]]
    assert sum(totals) == pytest.approx(linkage["calibration"]["population"], rel=1e-6)
    assert all(0 < e["se"] < e["weighted_total"] for e in estimates["ilo_status"])
    rate = estimates["unemployment_rate"]
    assert 0 < rate["se"] < rate["estimate"] < 0.5


def test_weighted_hours_are_judged_on_respondents_and_both_dominance_bases(world) -> None:
    """A weighted magnitude table (usual hours of the employed by sex × age band) fails in
    exactly the cells an independent computation finds: fewer than 10 respondents, or a
    top-2 share ≥ 0.9 / p % ratio < 0.1 on the weighted or on the unweighted answers."""
    from disclosure.outputs import magnitude_table

    con = duckdb.connect(str(world["home"] / "warehouse" / "sdwh.duckdb"), read_only=True)
    df = con.execute("select * from thematic.thm_survey_admin_comparison "
                     "where ilo_status_code = '1'").df()
    verdict = magnitude_table(df, ["sex_code", "age_band"], "usual_weekly_hours",
                              unit="person_id", weight="calibrated_weight", margins=False)
    expected = set()
    for cell, rows in df.groupby(["sex_code", "age_band"]):
        own = rows.groupby("person_id")["usual_weekly_hours"].sum().astype(float)
        weighted = (rows["usual_weekly_hours"] * rows["calibrated_weight"]).groupby(
            rows["person_id"]).sum()
        dominated = False
        for values in (own, weighted):
            top = values.sort_values(ascending=False).to_numpy()
            x1, x2 = top[0], top[1] if len(top) > 1 else 0.0
            dominated |= (x1 + x2) / values.sum() >= 0.9
            dominated |= (values.sum() - x1 - x2) / x1 < 0.1
        if len(own) < 10 or dominated:
            expected.add(cell)
    failing = {(c["sex_code"], c["age_band"]) for c in verdict.failing_cells}
    assert failing == expected
    assert expected and len(expected) < df.groupby(["sex_code", "age_band"]).ngroups
