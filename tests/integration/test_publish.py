"""Releases on a small real warehouse: synth -> ingest -> build -> publish -> catalogue.

The shared small warehouse (2,000 persons, 2024Q1-2025Q4; tests/conftest.py), copied for
this module. Release 2025Q3 is published from
it; then a revised NWWZ figure for 2025Q2 is written into the publication layer (as a revised
delivery would) and release 2025Q4 is published, so the revision record has something to find.
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from disclosure.protect import audit
from disclosure.rules import RuleParams
from sdwh.config import PROJECT_DIR, Settings
from sdwh.publish.indicators import INDICATORS
from sdwh.publish.protection import Block, GeoParents, build_joint_problem
from sdwh.publish.release import LINKS, complete_grid
from sdwh.publish.validate import compare_release

KEY = "ab" * 32


def sdwh(home: Path, *args: str, env: dict[str, str] | None = None,
         check: bool = True) -> dict:
    full = {**os.environ, "SDWH_HOME": str(home), "SDWH_TTP_KEY": KEY, **(env or {})}
    out = subprocess.run([sys.executable, "-m", "sdwh", *args, "--json"], env=full,
                         capture_output=True, text=True, timeout=1800)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if check:
        assert out.returncode == 0 and lines, f"sdwh {args}: {out.stdout[-2000:]} " \
                                              f"{out.stderr[-2000:]}"
    return {"rc": out.returncode, **(json.loads(lines[-1]) if lines else {})}


def revise_nwwz(db: Path, quarter: str) -> None:
    """One more NWWZ in the first category of every breakdown (stays additive)."""
    con = duckdb.connect(str(db))
    try:
        con.execute("""
            update publication.pub_nwwz set numerator = numerator + 1,
                n_persons_numerator = n_persons_numerator + 1,
                denominator = denominator + case when breakdown = 'unemployment_duration'
                                                 then 0 else 1 end,
                n_persons_denominator = n_persons_denominator
                    + case when breakdown = 'unemployment_duration' then 0 else 1 end
            where quarter = ? and (breakdown, category) in (
                select breakdown, min(category) from publication.pub_nwwz
                where quarter = ? group by breakdown)""", [quarter, quarter])
    finally:
        con.close()


@pytest.fixture(scope="module")
def published(small_warehouse: Path) -> dict:
    home = small_warehouse
    first = sdwh(home, "publish", "--release", "2025Q3")
    revise_nwwz(home / "warehouse" / "sdwh.duckdb", "2025Q2")
    second = sdwh(home, "publish", "--release", "2025Q4")
    return {"home": home, "first": first, "second": second,
            "releases": home / "releases", "db": home / "warehouse" / "sdwh.duckdb"}


def test_release_holds_every_indicator_in_every_format(published: dict) -> None:
    folder = published["releases"] / "2025Q4"
    doc = json.loads((folder / "release.json").read_text())
    assert doc["previous_release"] == "2025Q3" and doc["sdc"]["audit_ok"]
    for ind in INDICATORS:
        for suffix in ("csv", "parquet", "sdmx.csv", "dsd.xml", "jsonstat.json"):
            assert f"{ind.id}/{ind.id}.{suffix}" in doc["files"]
        meta = json.loads((folder / ind.id / "metadata.json").read_text())
        assert meta["licence"] == "Modellicentie Gratis Hergebruik v1.0"
        assert {s["supplier"] for s in meta["sources"]} == {s for s, _ in ind.sources}
        assert all(s["median_lag_days"] is not None for s in meta["sources"])


def test_formats_read_back_with_independent_readers(published: dict) -> None:
    folder = published["releases"] / "2025Q4"
    for ind in INDICATORS:
        result = compare_release(folder, ind, sdmx_data=ind.id != "employment_rate")
        assert result["jsonstat_problems"] == [], result["jsonstat_problems"][:3]
        assert result["rows"] == result["parquet_rows"] == result["sdmx_observations"] \
            == result["jsonstat_values"], result
        assert result["parquet_mismatches"] == 0
        sums = result["sums"]
        assert sums["csv"] == pytest.approx(sums["sdmx"]) == pytest.approx(sums["jsonstat"])
        assert result["missing_pattern_equal"]
        assert result["jsonstat_cell_mismatches"] == result["sdmx_cell_mismatches"] == 0


def _model(db: Path, model: str, quarter_max: str) -> pd.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(f"select * from publication.{model} where quarter <= ?",
                           [quarter_max]).df()
    finally:
        con.close()


def test_no_published_cell_has_fewer_than_ten_persons_or_non_persons(published: dict) -> None:
    """Recomputed from the warehouse, not from the release's own flags."""
    folder = published["releases"] / "2025Q4"
    for ind in INDICATORS:
        table = pd.read_parquet(folder / ind.id / f"{ind.id}.parquet")
        keys = ["quarter", *[d.column for d in ind.dimensions]]
        shown = table[~table["suppressed"]][keys].drop_duplicates()
        model = complete_grid(ind, _model(published["db"], ind.model, "2025Q4"))
        cells = shown.merge(model, on=keys, how="left")
        assert len(cells) == len(shown)
        for t in ind.protected:
            value = cells[t.plus] - (cells[t.minus] if t.minus else 0)
            value = value[~value.isna()]
            assert (value >= 10).all(), (ind.id, t.id, value[value < 10].head())
        # every suppressed cell is suppressed in every measure
        per_cell = table.groupby(keys)["suppressed"].nunique()
        assert (per_cell == 1).all()


def test_every_suppression_pattern_passes_the_exact_lp_audit(published: dict) -> None:
    """The disclosure library's exact intervals, on the pattern read from the release."""
    folder = published["releases"] / "2025Q4"
    audit_doc = json.loads((folder / "sdc_audit.json").read_text())
    assert audit_doc and all(r["audit_ok"] for r in audit_doc)
    # every NWWZ table was audited with the employment rate, or says why not, or fell back
    nwwz = [r for r in audit_doc if r["table"][0] == "nwwz"]
    assert nwwz and all("linked_audit" in r or "employment rate" in r.get("fallback", "")
                        for r in nwwz)
    geo = GeoParents.from_seeds(PROJECT_DIR / "seeds")
    tables = {i.id: pd.read_parquet(folder / i.id / f"{i.id}.parquet") for i in INDICATORS}
    checked = 0
    for quarter, age in (("2025Q4", "40-44"), ("2024Q1", "20-24")):
        blocks = []
        for ind in (i for i in INDICATORS if i.additivity == "sex_geo"):
            model = complete_grid(ind, _model(published["db"], ind.model, "2025Q4"))
            part = model[(model["quarter"] == quarter) & (model["age_band"] == age)]
            blocks.append(Block(ind, part.reset_index(drop=True)))
        problem, index = build_joint_problem(blocks, geo, RuleParams(), LINKS)
        mask = np.zeros(len(index), dtype=bool)
        for block in blocks:
            keys = ["quarter", *[d.column for d in block.indicator.dimensions]]
            flags = tables[block.indicator.id].groupby(keys)["suppressed"].first()
            cell_flags = [bool(flags.loc[tuple(r)]) for r in block.cells[keys].itertuples(
                index=False)]
            rows = (index["indicator"] == block.indicator.id).to_numpy()
            mask[rows] = np.asarray(cell_flags)[index.loc[rows, "cell"].to_numpy()]
        result = audit(problem, mask)
        assert result.ok, (quarter, age)
        checked += int(problem.primary.sum())
    assert checked > 0


def test_every_primary_of_every_table_has_its_proven_audit_bound(published: dict) -> None:
    """sdc_audit.json names every primary cell of the release with a bound that protects it."""
    folder = published["releases"] / "2025Q4"
    records = json.loads((folder / "sdc_audit.json").read_text())
    n_tables = sum(len(set(complete_grid(i, _model(published["db"], i.model, "2025Q4"))
                           [list(i.table_by)].itertuples(index=False)))
                   for i in INDICATORS if i.id != "work_shares")  # shares join the geo tables
    assert len(records) == n_tables
    audited: dict[str, set] = {i.id: set() for i in INDICATORS}
    for record in records:
        n = 0
        for ind_id, iv in record["intervals"].items():
            ind = next(i for i in INDICATORS if i.id == ind_id)
            keys = ["quarter", *[d.column for d in ind.dimensions]]
            for k, value in enumerate(iv["value"]):
                bound = iv["intruder_upper_at_least"][k]  # None: unbounded
                assert bound is None or bound >= value + iv["required_upper"][k] - 1e-6, \
                    (record["table"], ind_id, {c: iv[c][k] for c in keys})
                audited[ind_id].add(tuple(iv[c][k] for c in keys))
            n += len(iv["value"])
        assert n == record["primary_variables"] and record["audit_ok"]
    for ind in INDICATORS:  # the primary cells of the files are exactly the audited ones
        table = pd.read_parquet(folder / ind.id / f"{ind.id}.parquet")
        keys = ["quarter", *[d.column for d in ind.dimensions]]
        primary = table[table["confidentiality"] == "C"][keys].drop_duplicates()
        assert set(primary.astype(str).itertuples(index=False, name=None)) == audited[ind.id]


def test_revised_values_are_flagged_and_recorded(published: dict) -> None:
    folder = published["releases"] / "2025Q4"
    revisions = json.loads((folder / "revisions.json").read_text())
    assert revisions and {r["indicator"] for r in revisions} == {"nwwz"}
    assert {r["quarter"] for r in revisions} == {"2025Q2"}
    csv = pd.read_csv(folder / "nwwz" / "nwwz.csv", dtype=str, keep_default_na=False)
    flagged = csv[csv["revised"] == "true"]
    assert len(flagged) == len(revisions) and flagged["flags"].str.contains("r").all()
    assert published["second"]["revisions"] == len(revisions)
    first = json.loads((published["releases"] / "2025Q3" / "revisions.json").read_text())
    assert first == []


def test_same_inputs_give_a_byte_identical_release(published: dict, tmp_path: Path) -> None:
    releases = published["releases"]
    aside = tmp_path / "2025Q4"
    shutil.move(releases / "2025Q4", aside)
    # recompute every protection: the cache must not be what makes the bytes equal
    shutil.rmtree(published["home"] / "publish" / "sdc-cache")
    try:
        # one process here, a pool of workers in the fixture: the bytes must not care
        sdwh(published["home"], "publish", "--release", "2025Q4",
             env={"SDWH_PUBLISH_WORKERS": "1"})
        cmp = filecmp.dircmp(aside, releases / "2025Q4")
        files = [p.relative_to(aside) for p in aside.rglob("*") if p.is_file()]
        for rel in files:
            assert (aside / rel).read_bytes() == (releases / "2025Q4" / rel).read_bytes(), rel
        assert not cmp.left_only and not cmp.right_only
    finally:
        if not (releases / "2025Q4").exists():
            shutil.move(aside, releases / "2025Q4")


def test_crash_mid_publish_leaves_the_previous_state(published: dict, tmp_path: Path) -> None:
    home, releases = published["home"], published["releases"]
    aside = tmp_path / "2025Q4"
    shutil.move(releases / "2025Q4", aside)
    try:
        for point in ("publish_mid_release", "publish_before_rename"):
            out = sdwh(home, "publish", "--release", "2025Q4", env={"SDWH_FAILPOINT": point},
                       check=False)
            assert out["rc"] == 70, out  # died at the failpoint, as in a crash
            names = sorted(p.name for p in releases.iterdir() if not p.name.startswith("."))
            assert names == ["2025Q3"]  # no half release; the earlier one untouched
        sdwh(home, "publish", "--release", "2025Q4")  # re-running converges
        assert not list(releases.glob(".tmp-*"))
        for rel in (p.relative_to(aside) for p in aside.rglob("*") if p.is_file()):
            assert (aside / rel).read_bytes() == (releases / "2025Q4" / rel).read_bytes(), rel
    finally:
        if not (releases / "2025Q4").exists():
            shutil.move(aside, releases / "2025Q4")
    refused = sdwh(home, "publish", "--release", "2025Q4", check=False)
    assert refused["rc"] == 1 and "already exists" in refused["error"]


def test_tables_over_the_time_budget_are_published_fully_suppressed_and_say_so(
        published: dict, tmp_path: Path) -> None:
    """A budget no table can meet: every table falls back, is audited, and is named."""
    home = tmp_path / "home"
    for rel in ("warehouse/sdwh.duckdb", "raw/_deliveries.parquet"):
        (home / rel).parent.mkdir(parents=True, exist_ok=True)
        (home / rel).symlink_to(published["home"] / rel)
    out = sdwh(home, "publish", "--release", "2024Q2",
               env={"SDWH_PUBLISH_TIME_BUDGET": "0.000001"})
    sdc = out["sdc"]
    assert sdc["audit_ok"] and len(sdc["fallback_tables"]) == sdc["tables"] > 0
    assert "SDWH_PUBLISH_TIME_BUDGET" in sdc["method"]
    folder = home / "releases" / "2024Q2"
    for ind in INDICATORS:
        assert pd.read_parquet(folder / ind.id / f"{ind.id}.parquet")["suppressed"].all()
        meta = json.loads((folder / ind.id / "metadata.json").read_text())
        assert meta["sdc"]["fallback_tables"] and "fallback" in meta["sdc"]["method"]
    for record in json.loads((folder / "sdc_audit.json").read_text()):
        assert record["method"] == "suppress_all" and "time budget" in record["fallback"]
        for iv in record["intervals"].values():
            assert all(b is None or b >= v + u - 1e-6 for b, v, u in zip(
                iv["intruder_upper_at_least"], iv["value"], iv["required_upper"],
                strict=True))
    # a fallback depends on the machine's speed: never cached, the next release retries
    assert not list((home / "publish" / "sdc-cache").glob("*.json"))


def test_catalog_conforms_to_the_shapes_and_describes_restricted_datasets(
        published: dict) -> None:
    from rdflib import Graph, URIRef
    from rdflib.namespace import DCAT, DCTERMS, RDF

    from sdwh.catalog.dcat import LICENCE_URI, NON_PUBLIC, validate

    out = sdwh(published["home"], "catalog", "build")
    assert out["shacl_conforms"] and out["releases"] == ["2025Q3", "2025Q4"]
    graph = Graph().parse(out["catalog"], format="turtle")
    restricted = {s for s in graph.subjects(DCTERMS.accessRights, NON_PUBLIC)
                  if (s, RDF.type, DCAT.Dataset) in graph}
    assert len(restricted) == 4  # the four thematic research datasets
    for ds in restricted:
        distributions = list(graph.objects(ds, DCAT.distribution))
        assert distributions
        for dist in distributions:
            assert graph.value(dist, DCAT.downloadURL) is None
            assert (dist, DCTERMS.accessRights, NON_PUBLIC) in graph
    # a distribution that loses its licence makes the catalogue fail validation
    dist = next(s for s in graph.subjects(DCTERMS.license, LICENCE_URI)
                if (s, RDF.type, DCAT.Distribution) in graph
                and graph.value(s, DCAT.downloadURL) is not None)  # an open distribution
    graph.remove((dist, DCTERMS.license, None))
    graph.add((dist, DCTERMS.license, URIRef("https://example.org/other-licence")))
    conforms, report = validate(graph)
    assert not conforms and "Modellicentie" in report
    entries = json.loads(Path(out["dictionary"]).read_text())
    numerator = next(e for e in entries if e["model"] == "pub_nwwz" and e["column"] ==
                     "numerator")
    assert numerator["description"] and numerator["lineage"]["from"]
    geo = next(e for e in entries if e["model"] == "pub_employment_rate"
               and e["column"] == "geo_refnis")
    assert any(c["id"] == "refnis-2025-mergers" for c in geo["changes"])


def test_a_fix_must_link_a_release_that_revised_the_dataset(published: dict) -> None:
    home = published["home"]
    rep = sdwh(home, "feedback", "report", "--dataset", "nwwz", "--quarter", "2025Q2",
               "--variable", "numerator", "--description", "One jobseeker seems to be missing.")
    bad = sdwh(home, "feedback", "fix", str(rep["id"]), "--release", "2025Q3", check=False)
    assert bad["rc"] == 1 and "revised nothing" in bad["error"]
    fixed = sdwh(home, "feedback", "fix", str(rep["id"]), "--release", "2025Q4",
                 "--note", "late VDAB revision")
    assert fixed["status"] == "fixed" and fixed["fixed_in"] == "2025Q4"
    listing = sdwh(home, "feedback", "list")
    assert listing["per_dataset"]["nwwz"]["fixed"] == 1
    unknown = sdwh(home, "feedback", "report", "--dataset", "nope", "--description",
                   "something is wrong here", check=False)
    assert unknown["rc"] == 1
    settings = Settings(home=home)
    events = [e["event"] for e in __import__("sdwh.audit.log", fromlist=["audit_log"])
              .audit_log(settings).events("feedback.")]
    assert events == ["feedback.reported", "feedback.fixed"]


@pytest.mark.e2e
def test_site_pages_render_in_chromium_without_errors_and_the_form_reports(
        published: dict, tmp_path: Path) -> None:
    """Headless Debian chromium over the static site served on 127.0.0.1."""
    import threading

    from playwright.sync_api import sync_playwright

    from sdwh.feedback import register
    from sdwh.feedback.server import make_server

    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian chromium is not installed (make test installs it)")
    home = published["home"]
    sdwh(home, "catalog", "build")
    out = sdwh(home, "site", "--feedback-url", "/feedback")
    assert {"index.html", "calendar.html", "timeliness.html", "quality.html",
            "feedback.html", "nwwz.html"} <= set(out["pages"])
    settings = Settings(home=home)
    server = make_server(settings, 0)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    errors: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                      "--disable-component-update", "--disable-sync", "--no-first-run"])
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            external: list[str] = []
            page.on("request", lambda r: external.append(r.url)
                    if not r.url.startswith(f"http://127.0.0.1:{port}/") else None)
            for name in out["pages"]:
                response = page.goto(f"http://127.0.0.1:{port}/{name}")
                assert response is not None and response.status == 200, name
                page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
            page.goto(f"http://127.0.0.1:{port}/employment_rate.html")
            assert page.locator("svg").count() >= 1
            assert page.locator("table tr").count() > 2
            href = page.locator("a", has_text="CSV (tidy").get_attribute("href")
            assert page.request.get(f"http://127.0.0.1:{port}/{href}").status == 200
            page.goto(f"http://127.0.0.1:{port}/timeliness.html")
            assert "Bottleneck" in page.content()
            page.goto(f"http://127.0.0.1:{port}/feedback.html")
            page.select_option("select[name=dataset]", "work_shares")
            page.fill("textarea[name=description]", "The part-time share of 2025Q1 looks off.")
            page.click("button[type=submit]")
            assert "is stored" in page.locator("#result").inner_text()
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    assert errors == [] and external == []
    with register.open_register(home) as con:
        assert [r["dataset"] for r in register.listing(con, "work_shares")] == ["work_shares"]
