"""The airlock end to end on a real extract: request, automatic checks, blinded review, release.

The warehouse here is a DuckDB file with one thematic table built from known microdata (the
SDC report's ACRO scenario: 3,000 persons; Brussels has 21, 9 of them women, none aged 88+),
so expected verdicts are exact. Extracts are made by the real ``make_extract``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from sdwh.airlock.intake import Refused
from sdwh.airlock.service import AirlockService
from sdwh.audit.log import audit_log
from sdwh.config import Settings
from sdwh.errors import SdwhError
from sdwh.projects.extract import make_extract
from sdwh.projects.registry import Registry

PANEL = "thm_labour_market_panel"
REGIONS = {"ANT": "10000", "LIM": "70000", "OVL": "40000", "BRU": "21000"}
AGES = ["18-44", "45-87", "88+"]
CONTEXT = dict(description="Residents by region and age band", how_produced="project.sql in "
               "notebook analysis.ipynb", units="persons", population="residents, 2025Q4")


def scenario_persons(seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 2979
    main = pd.DataFrame({"province_refnis": rng.choice(["10000", "70000", "40000"], n),
                         "age_band": rng.choice(AGES, n, p=[.5, .45, .05]),
                         "sex_code": rng.choice(["F", "M"], n)})
    bru = pd.DataFrame({"province_refnis": "21000", "age_band": [AGES[0]] * 11 + [AGES[1]] * 10,
                        "sex_code": ["F", "M"] * 9 + ["M"] * 3})
    df = pd.concat([main, bru], ignore_index=True)
    df["person_id"] = [f"{i:032x}" for i in range(len(df))]
    return df


def build_warehouse(path: Path) -> None:
    persons = scenario_persons()
    # a panel: everyone in 2025Q4; 3 persons of one municipality also in the 3 quarters before
    quarters = [persons.assign(quarter="2025Q4")]
    few = persons[persons.province_refnis == "10000"].head(3)
    quarters += [few.assign(quarter=q) for q in ("2025Q1", "2025Q2", "2025Q3")]
    panel = pd.concat(quarters, ignore_index=True)
    panel["age"] = 30
    panel["municipality_refnis"] = np.where(panel.person_id.isin(few.person_id), "11002",
                                            "99999")
    con = duckdb.connect(str(path))
    con.execute("create schema thematic")
    con.register("panel", panel)
    con.execute(f"create table thematic.{PANEL} as select person_id, quarter, age, age_band, "
                "sex_code, municipality_refnis, province_refnis from panel")
    con.close()


@pytest.fixture
def lab(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("SDWH_AIRLOCK_CHECKERS", "carol,dave,alice")
    settings = Settings()
    warehouse = tmp_path / "wh.duckdb"
    build_warehouse(warehouse)
    reg = Registry(settings)
    reg.create("staff1", id="acro", title="ACRO scenario", organisation="VSA",
               legal_basis="art. 5", accredited=["alice", "bob"], datasets=[PANEL],
               variables=["age_band", "sex_code", "province_refnis", "municipality_refnis"],
               period_from="2025Q1", period_to="2025Q4", start_date=date(2026, 1, 1),
               end_date=date(2099, 12, 31), retention_until=date(2099, 12, 31))
    reg.approve("acro", "staff2", "D/1")
    reg.activate("acro", "staff2")
    reg.grant("acro", "alice", "staff2")
    reg.grant("acro", "bob", "staff2")
    manifest = make_extract(settings, "acro", "staff2", warehouse=warehouse)
    workspace = tmp_path / "alice"
    workspace.mkdir()
    monkeypatch.setenv("SDWH_PROJECT_ID", "acro")
    monkeypatch.setenv("SDWH_PROJECT_EXTRACT", manifest["path"])
    monkeypatch.setenv("SDWH_WORKSPACE", str(workspace))
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    monkeypatch.delenv("SDWH_AUDIT_SPOOL", raising=False)
    monkeypatch.delenv("SDWH_AIRLOCK_OUTBOX", raising=False)
    from sdwh.enclave import project

    project.reset()
    yield {"settings": settings, "workspace": workspace, "extract": Path(manifest["path"]),
           "service": AirlockService(settings), "project": project}
    project.reset()


def acro_suppressed(df: pd.DataFrame, row: str, col: str, value: str = "n") -> pd.DataFrame:
    """ACRO's suppress=True on a CUBE result: small inner cells blanked, margins recomputed
    from the cells that remain (report §1.6)."""
    inner = df[df[row].notna() & df[col].notna()].copy()
    inner.loc[inner[value] < 10, value] = np.nan
    kept = inner.dropna(subset=[value])
    rows = kept.groupby(row, as_index=False)[value].sum().assign(**{col: None})
    cols = kept.groupby(col, as_index=False)[value].sum().assign(**{row: None})
    total = pd.DataFrame({row: [None], col: [None], value: [kept[value].sum()]})
    out = pd.concat([inner, rows, cols, total], ignore_index=True)[[row, col, value]]
    out.attrs = df.attrs
    return out


def approve_and_release(service: AirlockService, request_id: str) -> None:
    for checker in ("carol", "dave"):
        for f in service.get(request_id).files:
            service.vote(request_id, checker, f.name, "approve")
    service.approve(request_id, "carol")
    service.release(request_id, "dave")


def request(lab: dict, *names: str, **context) -> dict:
    return lab["project"].request_export(list(names), **(CONTEXT | context))


def test_acro_differencing_scenario_is_blocked(lab):
    project, service, ws = lab["project"], lab["service"], lab["workspace"]
    a = project.sql(f"select province_refnis, age_band, count(*) as n from {PANEL} "
                    "where quarter = '2025Q4' group by cube(province_refnis, age_band)")
    project.save_table(acro_suppressed(a, "province_refnis", "age_band"), ws / "by_age.csv")
    first = request(lab, "by_age.csv")
    assert first["state"] == "submitted"
    assert first["files"][0]["check"]["status"] == "pass", first["files"][0]["check"]
    approve_and_release(service, first["id"])

    b = project.sql(f"select province_refnis, sex_code, count(*) as n from {PANEL} "
                    "where quarter = '2025Q4' group by cube(province_refnis, sex_code)")
    table_b = acro_suppressed(b, "province_refnis", "sex_code")
    bru_f = table_b[(table_b.province_refnis == "21000") & (table_b.sex_code == "F")]
    assert bru_f["n"].isna().all()
    assert a["n"].max() - table_b["n"].max() == 9  # A.All − B.All is the suppressed BRU × F
    project.save_table(table_b, ws / "by_sex.csv")
    second = request(lab, "by_sex.csv")
    check = second["files"][0]["check"]
    assert check["status"] == "fail"
    findings = check["evidence"]["differencing"]["findings"]
    hit = [f for f in findings if f["cell"] == {"province_refnis": "21000", "sex_code": "F"}]
    assert hit and hit[0]["lo"] == hit[0]["hi"] == 9
    assert check["evidence"]["differencing"]["compared_with"] == ["by_age.csv"]
    assert any("differencing" in r for r in check["reasons"])


def test_each_acro_table_alone_passes_so_the_block_comes_from_differencing(lab):
    project, ws = lab["project"], lab["workspace"]
    b = project.sql(f"select province_refnis, sex_code, count(*) as n from {PANEL} "
                    "where quarter = '2025Q4' group by cube(province_refnis, sex_code)")
    project.save_table(acro_suppressed(b, "province_refnis", "sex_code"), ws / "by_sex.csv")
    assert request(lab, "by_sex.csv")["files"][0]["check"]["status"] == "pass"


def test_threshold_counts_distinct_persons_not_rows(lab):
    project, ws = lab["project"], lab["workspace"]
    df = project.sql(f"select municipality_refnis, count(*) as n from {PANEL} "
                     "group by municipality_refnis")
    assert int(df.loc[df.municipality_refnis == "11002", "n"].iloc[0]) == 12  # 3 persons × 4
    project.save_table(df, ws / "rows.csv")
    check = request(lab, "rows.csv")["files"][0]["check"]
    assert check["status"] == "fail"
    assert check["evidence"]["failing_cells"] == [{
        "cell": {"municipality_refnis": "11002"}, "column": "n", "n_persons": 3,
        "rules": ["threshold"]}]


def test_cells_of_one_row_per_person_are_counted_on_rows_with_the_same_verdicts(
        lab, monkeypatch):
    """The panel has one row per person and quarter: a table whose every cell fixes the
    quarter (grouping, or WHERE for margins) is counted on rows; verdicts stay the same."""
    from sdwh.airlock import checks

    project, ws = lab["project"], lab["workspace"]
    tables = {  # name: (query, counted on rows)
        "q4.csv": (f"select province_refnis, sex_code, count(*) as n from {PANEL} "
                   "where quarter = '2025Q4' group by all", True),
        "by_quarter.csv": (f"select municipality_refnis, quarter, count(*) as n from {PANEL} "
                           "group by all", True),
        "cube.csv": (f"select municipality_refnis, quarter, count(*) as n from {PANEL} "
                     "group by cube(municipality_refnis, quarter)", False),
        "all_quarters.csv": (f"select municipality_refnis, count(*) as n from {PANEL} "
                             "group by all", False),
    }
    for name, (sql, _) in tables.items():
        project.save_table(project.sql(sql), ws / name)
    fast = {f["name"]: f["check"] for f in request(lab, *tables)["files"]}
    monkeypatch.setattr(checks, "GRAIN_CANDIDATES", ())
    monkeypatch.setattr(checks, "_GRAINS", {})
    slow = {f["name"]: f["check"] for f in request(lab, *tables)["files"]}
    for name, (_, on_rows) in tables.items():
        assert fast[name]["evidence"]["one_row_per_person_per_cell"] is on_rows, name
        assert slow[name]["evidence"]["one_row_per_person_per_cell"] is False
        assert fast[name]["status"] == slow[name]["status"], name
        assert fast[name]["evidence"]["failing_cells"] == slow[name]["evidence"]["failing_cells"]
    assert fast["by_quarter.csv"]["evidence"]["failing_cells"]  # 11002 × 2025Q1: 3 persons
    assert fast["all_quarters.csv"]["status"] == "fail"  # 12 rows of 3 persons


def test_small_published_cell_fails_and_suppressed_one_passes(lab):
    project, ws = lab["project"], lab["workspace"]
    df = project.sql(f"select province_refnis, sex_code, count(*) as n from {PANEL} where "
                     "quarter = '2025Q4' group by all")
    project.save_table(df, ws / "raw.csv")
    assert request(lab, "raw.csv")["files"][0]["check"]["status"] == "fail"
    safe = df[df.n >= 10]
    project.save_table(safe, ws / "safe.csv")
    check = request(lab, "safe.csv")["files"][0]["check"]
    assert check["status"] == "pass" and not check["evidence"]["failing_cells"]
    assert check["evidence"]["modified"] == {"cells_differing_from_query": 0}
    rounded = safe.assign(n=(safe.n // 5) * 5 + 1)
    project.save_table(rounded, ws / "edited.csv")
    check = request(lab, "edited.csv")["files"][0]["check"]
    assert check["status"] == "review" and "differ from the query" in check["reasons"][0]


def test_blinded_two_checker_review_override_and_release(lab):
    project, service, ws, settings = (lab["project"], lab["service"], lab["workspace"],
                                      lab["settings"])
    df = project.sql(f"select province_refnis, sex_code, count(*) as n from {PANEL} where "
                     "quarter = '2025Q4' group by all")
    project.save_table(df, ws / "t.csv")
    (ws / "notes.txt").write_text("Counts of residents by province and sex.\n")
    rid = request(lab, "t.csv", "notes.txt")["id"]
    with pytest.raises(SdwhError, match=r"made request .* and cannot review"):
        service.vote(rid, "alice", "t.csv", "approve")
    with pytest.raises(SdwhError, match="not an output checker"):
        service.vote(rid, "bob", "t.csv", "approve")
    with pytest.raises(SdwhError, match="needs a reason"):
        service.vote(rid, "carol", "t.csv", "approve")
    service.vote(rid, "carol", "t.csv", "approve", override_reason="BRU cells are known public "
                 "counts")
    service.vote(rid, "carol", "notes.txt", "approve")
    assert service.get(rid).state.value == "partially_reviewed"
    assert [v["checker"] for v in service.view(rid, "dave")["votes"]] == []
    with pytest.raises(SdwhError, match="is partially_reviewed; it cannot approve"):
        service.approve(rid, "carol")
    service.vote(rid, "dave", "t.csv", "approve", override_reason="agree")
    service.vote(rid, "dave", "notes.txt", "approve")
    assert service.get(rid).state.value == "reviewed"
    assert {v["checker"] for v in service.view(rid, "dave")["votes"]} == {"carol", "dave"}
    with pytest.raises(SdwhError, match="cannot open files of"):
        service.file_path(rid, "t.csv", "alice")
    assert service.file_path(rid, "t.csv", "carol").read_bytes() == (ws / "t.csv").read_bytes()
    service.approve(rid, "carol")
    with pytest.raises(SdwhError, match="made request"):
        service.release(rid, "alice")
    released = service.release(rid, "dave")
    out = Path(released.release_path)
    assert out == settings.root / "released" / "acro" / rid
    manifest = json.loads((out / "release.json").read_text())
    assert set(manifest["files"]) == {"t.csv", "notes.txt"}
    assert (out / "t.csv").read_bytes() == (ws / "t.csv").read_bytes()
    events = [e["event"] for e in audit_log(settings).events("airlock.")]
    for expected in ("airlock.created", "airlock.checked", "airlock.submitted", "airlock.voted",
                     "airlock.override", "airlock.reviewed", "airlock.approved",
                     "airlock.file_viewed", "airlock.released"):
        assert expected in events
    assert audit_log(settings).verify().ok
    with pytest.raises(SdwhError, match="is released; it cannot release"):
        service.release(rid, "dave")


def test_released_files_go_to_the_projects_researchers_only_and_intact(lab):
    service, ws, settings = lab["service"], lab["workspace"], lab["settings"]
    (ws / "notes.txt").write_text("Counts of residents by province and sex.\n")
    rid = request(lab, "notes.txt")["id"]
    with pytest.raises(SdwhError, match="is submitted, not released"):
        service.released_file(rid, "notes.txt", "alice")
    assert [r["id"] for r in service.requests_of("alice")] == [rid]
    with pytest.raises(SdwhError, match=r"alice made request .* cannot review"):
        service.checker_view(rid, "alice")  # alice is a checker too, but the author
    assert service.checker_view(rid, "carol")["id"] == rid
    assert service.requests_of("bob") == []
    approve_and_release(service, rid)
    for researcher in ("alice", "bob"):  # bob: another researcher of the project
        path = service.released_file(rid, "notes.txt", researcher)
        assert path.read_bytes() == (ws / "notes.txt").read_bytes()
    with pytest.raises(SdwhError, match="carol is not a researcher of project acro"):
        service.released_file(rid, "notes.txt", "carol")
    with pytest.raises(SdwhError, match="has no file"):
        service.released_file(rid, "../airlock.sqlite", "alice")
    path.chmod(0o644)
    path.write_text("Counts of residents by province and sex, edited.\n")
    with pytest.raises(SdwhError, match="does not match the checksum"):
        service.released_file(rid, "notes.txt", "alice")
    downloads = [e for e in audit_log(settings).events("airlock.downloaded")]
    assert [e["actor"] for e in downloads] == ["alice", "bob"]


def test_return_and_resubmit_resets_votes(lab):
    service, ws = lab["service"], lab["workspace"]
    (ws / "notes.md").write_text("# Method\nWe counted residents per province.\n")
    rid = request(lab, "notes.md")["id"]
    service.vote(rid, "carol", "notes.md", "changes_requested", "say which quarter")
    service.return_request(rid, "carol", "Please add the reference quarter.")
    seen = service.view(rid, "alice")
    assert seen["state"] == "returned" and seen["comments"][0]["public"]
    with pytest.raises(SdwhError, match="Only alice"):
        service.submit(rid, "bob")
    (ws / "notes.md").write_text("# Method\nWe counted residents per province in 2025Q4.\n")
    with pytest.raises(SdwhError, match="Only alice"):
        service.replace_files(rid, "bob", ws, [Path("notes.md")])
    service.replace_files(rid, "alice", ws, [Path("notes.md")])
    again = service.submit(rid, "alice")
    assert again.state.value == "submitted" and again.votes == [] and again.turn == 2
    assert service.file_path(rid, "notes.md", "dave").read_text().endswith("2025Q4.\n")
    with pytest.raises(SdwhError, match="is submitted; it cannot withdraw"):
        service.withdraw(rid, "alice")


@pytest.mark.parametrize(("make", "rule"), [
    (lambda ws, ex: "../outside.csv", "path_traversal"),
    (lambda ws, ex: "/etc/hostname", "outside_workspace"),
    (lambda ws, ex: os.symlink(ex / f"{PANEL}.parquet", ws / "link.parquet") or "link.parquet",
     "symlink"),
    (lambda ws, ex: (ws / "x.py").write_text("print(1)") and "x.py", "file_type"),
    (lambda ws, ex: (ws / "fake.png").write_text("not a png") and "fake.png", "content_type"),
    (lambda ws, ex: (ws / "big.txt").write_text("x" * 1_100_000) and "big.txt", "file_size"),
    (lambda ws, ex: (ws / "copy.parquet").write_bytes((ex / f"{PANEL}.parquet").read_bytes())
     and "copy.parquet", "extract_copy"),
    (lambda ws, ex: pd.read_parquet(ex / f"{PANEL}.parquet").head(50).to_csv(
        ws / "ids.csv", index=False) or "ids.csv", "pseudonyms"),
    (lambda ws, ex: pd.read_parquet(ex / f"{PANEL}.parquet").drop(columns="person_id").head(
        500).to_csv(ws / "slice.csv", index=False) or "slice.csv", "extract_slice"),
    (lambda ws, ex: pd.DataFrame({"x": range(700)}).to_csv(ws / "long.csv", index=False)
     or "long.csv", "too_many_rows"),
    (lambda ws, ex: "missing.csv", "missing"),
    (lambda ws, ex: (ws / "manifest.json").write_bytes((ex / "extract.json").read_bytes())
     and "manifest.json", "extract_copy"),
])
def test_bad_input_is_refused_with_its_rule_and_logged(lab, monkeypatch, make, rule):
    monkeypatch.setenv("SDWH_AIRLOCK_MAX_FILE_BYTES", "1000000")
    monkeypatch.setenv("SDWH_AIRLOCK_MAX_ROWS", "600")
    name = make(lab["workspace"], lab["extract"])
    with pytest.raises(Refused) as err:
        request(lab, name)
    assert err.value.rule == rule
    assert f"[rule {rule}]" in err.value.message
    logged = list(audit_log(lab["settings"]).events("airlock.refused"))
    assert logged and logged[-1]["details"]["rule"] == rule
    assert lab["service"].requests() == []


def test_missing_context_and_foreign_researcher_are_refused(lab):
    (lab["workspace"] / "n.txt").write_text("A note about counts.\n")
    with pytest.raises(SdwhError, match="context is incomplete"):
        request(lab, "n.txt", description="x")
    with pytest.raises(SdwhError, match="no active access"):
        lab["service"].create_request("acro", "mallory", lab["workspace"], [Path("n.txt")],
                                      CONTEXT)


def test_fast_path_needs_one_review_and_samples_ex_post(lab, monkeypatch):
    monkeypatch.setenv("SDWH_AIRLOCK_FAST_PATH", "true")
    monkeypatch.setenv("SDWH_AIRLOCK_FAST_PATH_SAMPLE", "1.0")
    service = AirlockService(Settings())
    summary = ("OLS Regression Results\nNo. Observations:   2991\nDf Residuals:   2987\n"
               "Df Model:   3\n")
    (lab["workspace"] / "model.txt").write_text(summary)
    rid = request(lab, "model.txt")["id"]
    r = service.get(rid)
    assert r.fast_path and r.files[0].check.kind == "model_summary"
    service.vote(rid, "carol", "model.txt", "approve")
    assert service.get(rid).state.value == "reviewed"
    service.approve(rid, "carol")
    assert service.release(rid, "dave").expost_sample
    assert [s["id"] for s in service.sampled()] == [rid]
    (lab["workspace"] / "small.txt").write_text(summary.replace("2987", "5").replace(
        "2991", "9"))
    small = service.get(request(lab, "small.txt")["id"])
    assert not small.fast_path and small.files[0].check.status == "fail"


def test_outbox_staging_and_hub_collection(lab, tmp_path, monkeypatch):
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    monkeypatch.setenv("SDWH_AIRLOCK_OUTBOX", str(outbox))
    project, ws = lab["project"], lab["workspace"]
    df = project.sql(f"select sex_code, count(*) as n from {PANEL} where quarter = '2025Q4' "
                     "group by all")
    project.save_table(df, ws / "sex.csv")
    staged = request(lab, "sex.csv")
    assert staged["status"] == "staged" and lab["service"].requests() == []
    done = lab["service"].collect_outbox(outbox, "acro", "alice")
    assert [r.state.value for r in done] == ["submitted"]
    assert done[0].files[0].check.status == "pass"
    assert not [p for p in outbox.iterdir() if not p.name.startswith(".")]


def test_cli_list_show_vote_release(lab):
    project, ws, settings = lab["project"], lab["workspace"], lab["settings"]
    df = project.sql(f"select sex_code, count(*) as n from {PANEL} where quarter = '2025Q4' "
                     "group by all")
    project.save_table(df, ws / "sex.csv")
    rid = request(lab, "sex.csv")["id"]
    env = {**os.environ, "SDWH_HOME": str(settings.root)}

    def run(*args: str) -> dict:
        out = subprocess.run([sys.executable, "-m", "sdwh", "airlock", *args, "--json"],
                             env=env, capture_output=True, text=True, timeout=120)
        return json.loads(out.stdout.strip().splitlines()[-1]) | {"_rc": out.returncode}

    queue = run("list", "--as", "carol")["queue"]
    assert [q["id"] for q in queue] == [rid] and queue[0]["automatic"] == "pass"
    assert run("vote", rid, "all", "approve", "--as", "alice")["_rc"] == 1
    assert run("vote", rid, "all", "approve", "--as", "carol")["request"]["state"] == (
        "partially_reviewed")
    assert run("vote", rid, "all", "approve", "--as", "dave")["request"]["state"] == "reviewed"
    assert run("decide", rid, "approve", "--as", "carol")["request"]["state"] == "approved"
    shown = run("show", rid, "--as", "carol")
    assert [h["action"] for h in shown["request"]["history"]] == [
        "create", "submit", "review", "review", "approve"]
    out = run("release", rid, "--as", "dave")
    assert out["request"]["state"] == "released" and Path(out["path"], "sex.csv").is_file()


def test_files_of_the_extract_mounted_in_the_workspace_are_refused(lab, monkeypatch):
    # in the hub the extract is mounted at ~/extract, inside the researcher's workspace
    monkeypatch.setenv("SDWH_WORKSPACE", str(lab["extract"].parent))
    for name in ("v1/risk_report.json", f"v1/{PANEL}.parquet"):
        with pytest.raises(Refused, match=r"file of the project extract \[rule extract_copy\]"):
            request(lab, name)


def test_outbox_entries_that_are_links_are_refused(lab, tmp_path):
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    elsewhere = tmp_path / "elsewhere" / "files"
    elsewhere.mkdir(parents=True)
    (elsewhere / "secret.txt").write_text("another project's notes, not for export\n")
    (elsewhere.parent / "submission.json").write_text(json.dumps(
        {"files": [{"name": "secret.txt"}], "context": CONTEXT}))
    os.symlink(elsewhere.parent, outbox / "20260101T000000-deadbeef")
    with pytest.raises(SdwhError, match="not a plain folder"):
        lab["service"].collect_outbox(outbox, "acro", "alice")
    assert lab["service"].requests() == []

