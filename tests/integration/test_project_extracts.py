"""Project extracts and the researcher helper on a small real warehouse (2,000 persons, 8 quarters).

One module-scoped data root: synth → ingest → build, then projects are recorded, approved and
extracted through the real CLI and library.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from sdwh.audit.log import audit_log
from sdwh.config import Settings
from sdwh.errors import SdwhError
from sdwh.projects.extract import make_extract, verify_extract
from sdwh.projects.keys import key_path, project_key, project_pseudonym
from sdwh.projects.registry import Registry

TTP = "ab" * 32
PANEL = "thm_labour_market_panel"


def sdwh(home: Path, *args: str) -> dict:
    env = {**os.environ, "SDWH_HOME": str(home), "SDWH_TTP_KEY": TTP}
    out = subprocess.run([sys.executable, "-m", "sdwh", *args, "--json"], env=env,
                         capture_output=True, text=True, timeout=900)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no JSON from sdwh {args}: {out.stdout[-2000:]} {out.stderr[-2000:]}"
    return json.loads(lines[-1]) | {"_rc": out.returncode}


def authorise(settings: Settings, project_id: str, **changes) -> None:
    reg = Registry(settings)
    fields = dict(title="Labour market", organisation="UGent", legal_basis="art. 5",
                  accredited=["alice", "bob"], datasets=[PANEL],
                  variables=["age", "sex_code", "province_refnis", "sep_seq", "is_working"],
                  period_from="2025Q1", period_to="2025Q4", start_date=date(2026, 1, 1),
                  end_date=date(2099, 12, 31), retention_until=date(2099, 12, 31))
    reg.create("staff1", id=project_id, **(fields | changes))
    reg.approve(project_id, "staff2", "IVC/26/001")
    reg.activate(project_id, "staff2")
    reg.grant(project_id, "alice", "staff2")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("extracts") / "home"
    assert sdwh(home, "synth", "--persons", "2000", "--from", "2024Q1", "--to", "2025Q4",
                "--seed", "7")["_rc"] == 0
    assert sdwh(home, "ingest")["_rc"] == 0
    assert sdwh(home, "build")["_rc"] == 0
    mp = pytest.MonkeyPatch()
    mp.setenv("SDWH_HOME", str(home))
    mp.setenv("SDWH_TTP_KEY", TTP)
    settings = Settings(home=home)
    authorise(settings, "panel-a")
    authorise(settings, "panel-b", population="age between 18 and 24",
              variables=["age", "sex_code"], period_from="2024Q1", period_to="2024Q4")
    yield settings
    mp.undo()


@pytest.fixture(scope="module")
def extract_a(built: Settings) -> dict:
    out = sdwh(built.root, "project", "extract", "panel-a", "--as", "staff2")
    assert out["_rc"] == 0, out
    return out


def test_extract_holds_only_approved_columns_period_and_population(built, extract_a):
    assert extract_a["extract_id"] == "v1"
    table = extract_a["tables"][PANEL]
    assert table["columns"] == ["person_id", "quarter", "age", "sex_code", "province_refnis",
                                "sep_seq", "is_working"]
    path = Path(extract_a["path"]) / table["file"]
    quarters = duckdb.sql(f"select distinct quarter from '{path}' order by 1").fetchall()
    assert [q for (q,) in quarters] == ["2025Q1", "2025Q2", "2025Q3", "2025Q4"]
    wh = duckdb.connect(str(built.root / "warehouse" / "sdwh.duckdb"), read_only=True)
    expected = wh.execute(f"select count(*) from thematic.{PANEL} where quarter between "
                          "'2025Q1' and '2025Q4'").fetchone()[0]
    assert table["rows"] == expected > 5000
    b_rows = wh.execute(f"select count(*) from thematic.{PANEL} where quarter between '2024Q1' "
                        "and '2024Q4' and age between 18 and 24").fetchone()[0]
    wh.close()
    b = make_extract(built, "panel-b", "staff2")
    tb = b["tables"][PANEL]
    pb = Path(b["path"]) / tb["file"]
    ages = duckdb.sql(f"select min(age), max(age), min(quarter), max(quarter) from '{pb}'"
                      ).fetchall()[0]
    assert ages == (18, 24, "2024Q1", "2024Q4")
    assert b_rows == tb["rows"]


def test_person_ids_are_project_pseudonyms_unlinkable_across_projects(built, extract_a):
    a = Path(extract_a["path"]) / f"{PANEL}.parquet"
    b = built.root / "projects" / "panel-b" / "extracts" / "current" / f"{PANEL}.parquet"
    if not b.exists():
        make_extract(built, "panel-b", "staff2")
    shared = duckdb.sql(f"select count(*) from (select person_id from '{a}' intersect "
                        f"select person_id from '{b}')").fetchall()[0][0]
    assert shared == 0
    wh = duckdb.connect(str(built.root / "warehouse" / "sdwh.duckdb"), read_only=True)
    original = wh.execute(f"select person_id from thematic.{PANEL} where quarter = '2025Q1' "
                          "order by person_id limit 20").fetchall()
    wh.close()
    key = project_key(built, "panel-a")
    mapped = {project_pseudonym(p, key) for (p,) in original}
    found = duckdb.sql(f"select person_id from '{a}'").fetchall()
    assert mapped <= {p for (p,) in found}
    assert not {p for (p,) in original} & {p for (p,) in found}
    assert stat.S_IMODE(key_path(built, "panel-a").stat().st_mode) == 0o600


def test_row_order_is_the_project_pseudonym_order_and_cannot_line_up_two_projects(built,
                                                                                 extract_a):
    """Same slice for two projects: the files must not list persons in a shared order."""
    if "panel-c" not in {p.id for p in Registry(built).list()}:
        authorise(built, "panel-c")
    c = make_extract(built, "panel-c", "staff2")
    wh = duckdb.connect(str(built.root / "warehouse" / "sdwh.duckdb"), read_only=True)
    people = [p for (p,) in wh.execute(f"select distinct person_id from thematic.{PANEL} where "
                                       "quarter between '2025Q1' and '2025Q4' order by 1"
                                       ).fetchall()]
    wh.close()
    orders = []
    for project_id, manifest in (("panel-a", extract_a), ("panel-c", c)):
        path = Path(manifest["path"]) / f"{PANEL}.parquet"
        rows = duckdb.sql(f"select person_id, quarter from '{path}'").fetchall()
        assert rows == sorted(rows)  # ordered by project pseudonym, then quarter
        back = {project_pseudonym(p, project_key(built, project_id)): i
                for i, p in enumerate(people)}
        first_seen = list(dict.fromkeys(back[p] for p, _ in rows))
        assert sorted(first_seen) == list(range(len(people)))
        orders.append(first_seen)

    def rank_correlation(x: list[int], y: list[int]) -> float:
        pos = {v: i for i, v in enumerate(y)}
        n = len(x)
        d2 = sum((i - pos[v]) ** 2 for i, v in enumerate(x))
        return 1 - 6 * d2 / (n * (n * n - 1))

    warehouse_order = list(range(len(people)))
    assert len(people) > 1000
    for x, y in ((orders[0], orders[1]), (orders[0], warehouse_order),
                 (orders[1], warehouse_order)):
        assert abs(rank_correlation(x, y)) < 0.1


def test_extract_is_frozen_versioned_checksummed_and_deterministic(built, extract_a):
    first = Path(extract_a["path"])
    assert stat.S_IMODE(first.stat().st_mode) == 0o555
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o444 for p in first.iterdir())
    assert verify_extract(first) == []
    again = make_extract(built, "panel-a", "staff2")
    assert again["extract_id"] == "v2"
    assert again["tables"][PANEL]["sha256"] == extract_a["tables"][PANEL]["sha256"]
    assert Registry(built).current_extract("panel-a") == Path(again["path"])
    risk = json.loads((first / "risk_report.json").read_text())
    assert risk["datasets"][PANEL]["keys"] == ["age", "sex_code", "province_refnis"]
    assert risk["datasets"][PANEL]["n"] > 1000
    events = list(audit_log(built).events("extract.created"))
    assert {e["details"]["project"] for e in events} >= {"panel-a"}
    assert audit_log(built).verify().ok


def test_failed_extract_leaves_the_current_one(built, extract_a):
    reg = Registry(built)
    before = reg.current_extract("panel-a")
    with pytest.raises(SdwhError, match="no warehouse"):
        make_extract(built, "panel-a", "staff2", warehouse=built.root / "missing.duckdb")
    assert reg.current_extract("panel-a") == before
    assert not [p for p in (before.parent).iterdir() if p.name.startswith(".tmp")]


def test_requested_project_gets_no_extract(built):
    Registry(built).create("staff1", id="not-yet", title="t", organisation="o",
                           legal_basis="l", accredited=["alice"], datasets=[PANEL],
                           variables=["age"], period_from="2025Q1", period_to="2025Q4",
                           start_date=date(2026, 1, 1), end_date=date(2099, 1, 1),
                           retention_until=date(2099, 1, 1))
    out = sdwh(built.root, "project", "extract", "not-yet")
    assert out["_rc"] == 1 and "only approved or active" in out["error"]


def test_researcher_helper_queries_the_extract_and_audits(built, extract_a, monkeypatch,
                                                          tmp_path):
    from sdwh.enclave import project

    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setenv("SDWH_PROJECT_ID", "panel-a")
    monkeypatch.setenv("SDWH_PROJECT_EXTRACT",
                       str(built.root / "projects" / "panel-a" / "extracts" / "v1"))
    monkeypatch.setenv("SDWH_AUDIT_SPOOL", str(spool))
    project.reset()
    try:
        assert list(project.tables()["table"]) == [PANEL]
        df = project.sql(f"select sex_code, count(distinct person_id) as n from {PANEL} "
                         "where quarter = '2025Q4' group by sex_code order by sex_code")
        assert list(df["sex_code"]) == ["F", "M"] and df["n"].sum() > 1000
        for forbidden in ("select * from read_csv('/etc/passwd')",
                          f"copy {PANEL} to '{tmp_path}/leak.csv'",
                          f"attach '{built.root}/warehouse/sdwh.duckdb' as wh",
                          "set enable_external_access = true"):
            with pytest.raises(SdwhError, match="The query failed"):
                project.sql(forbidden)
        assert not (tmp_path / "leak.csv").exists()
        saved = project.save_table(df, tmp_path / "out" / "by_sex.csv")
        side = json.loads((saved.parent / "by_sex.csv.sdwh-query.json").read_text())
        assert side["query"].startswith("select sex_code") and side["modified"] is False
        assert side["extract_id"] == "v1"
        lines = [json.loads(x) for x in (spool / "events.jsonl").read_text().splitlines()]
        assert [x["details"]["ok"] for x in lines] == [True, False, False, False, False]
        assert lines[0]["event"] == "enclave.query" and lines[0]["details"]["rows"] == 2
    finally:
        project.reset()


def test_cli_show_names_the_current_extract(built, extract_a):
    shown = sdwh(built.root, "project", "show", "panel-a")
    assert shown["extract"] in ("v1", "v2")
    assert [h["action"] for h in shown["history"]][:3] == ["create", "approve", "activate"]


def test_getting_started_notebook_runs_on_the_extract(built, extract_a, monkeypatch, tmp_path):
    from sdwh.enclave import project

    notebook = Path(__file__).parents[2] / "sdwh" / "enclave" / "notebooks" / (
        "getting-started.ipynb")
    doc = json.loads(notebook.read_text())
    assert doc["nbformat"] == 4
    cells = [c for c in doc["cells"] if c["cell_type"] == "code"]
    assert cells and all(c["outputs"] == [] and c["execution_count"] is None for c in cells)
    monkeypatch.setenv("SDWH_PROJECT_ID", "panel-a")
    monkeypatch.delenv("SDWH_PROJECT_EXTRACT", raising=False)
    monkeypatch.delenv("SDWH_AUDIT_SPOOL", raising=False)
    monkeypatch.chdir(tmp_path)
    project.reset()
    try:
        namespace: dict = {}
        for cell in cells:
            exec("".join(cell["source"]), namespace)  # the notebook's own code, in order
        assert (tmp_path / "outputs" / "persons_by_quarter.csv.sdwh-query.json").is_file()
    finally:
        project.reset()


def test_row_groups_are_cut_exactly_and_both_join_paths_write_the_same_file(
        built, extract_a, monkeypatch, tmp_path):
    """Small row groups exercise the re-cut and the writer's second thread; the join on a
    hash of the warehouse pseudonym must give the file the join on the pseudonym gives."""
    import sdwh.projects.extract as ex

    table = extract_a["tables"][PANEL]
    monkeypatch.setattr(ex, "ROW_GROUP", 997)
    con = duckdb.connect(str(built.root / "warehouse" / "sdwh.duckdb"), read_only=True)
    files = {}
    try:
        for on_hash in (True, False):
            target = tmp_path / f"hash-{on_hash}.parquet"
            rows, persons, _ = ex._copy_pseudonymised(
                con, PANEL, table["columns"], "quarter between '2025Q1' and '2025Q4'",
                "quarter", project_key(built, "panel-a"), target, join_on_hash=on_hash)
            assert (rows, persons) == (table["rows"], table["persons"])
            files[on_hash] = target
    finally:
        con.close()
    assert files[True].read_bytes() == files[False].read_bytes()
    meta = pq.ParquetFile(files[True]).metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert len(sizes) > 5 and set(sizes[:-1]) == {997} and 0 < sizes[-1] <= 997
    assert sum(sizes) == table["rows"]
    written = pq.read_table(Path(extract_a["path"]) / table["file"])
    assert pq.read_table(files[True]).equals(written)  # same rows, same order


def test_risk_report_equals_the_risk_of_the_files_last_quarter(built, extract_a):
    """The report is measured while writing; it must equal measuring the written file."""
    from disclosure.microdata import measure_risk

    folder = Path(extract_a["path"])
    report = json.loads((folder / "risk_report.json").read_text())["datasets"][PANEL]
    path = folder / extract_a["tables"][PANEL]["file"]
    keys = report["keys"]
    last = duckdb.sql(f"select max(quarter) from '{path}'").fetchall()[0][0]
    frame = duckdb.sql(f"select {', '.join(keys)} from '{path}' where quarter = '{last}'").df()
    expected = measure_risk(frame, keys).summary()
    assert report["period"] == last == "2025Q4"
    assert {k: report[k] for k in expected} == expected
    assert 1000 < expected["n"] <= extract_a["tables"][PANEL]["persons"]
