"""The warehouse on small synthetic data: synth -> ingest -> `sdwh build`.

One module-scoped data root (four quarters, 1,500 persons) is ingested in two steps, so the
same fixture proves row accounting across layers and that an incremental build of a new
quarter equals a full rebuild.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from sdwh.config import Settings
from sdwh.landing.ingest import ingest_all, landing_folders

NEW_QUARTER_MARKS = ("2025Q2", "2025-04", "2025-05", "2025-06")
#: Every stored table a build writes (views over them are compared through their tables).
COMPARED = ("integrated.int_persons", "integrated.int_education_levels",
            "integrated.int_person_quarter_compact", "integrated.int_person_quarter_activity",
            "thematic.thm_neet_youth",
            "thematic.thm_school_to_work", "publication.pub_employment_rate",
            "publication.pub_nwwz", "publication.pub_work_shares")
PROJECT = Path(__file__).resolve().parents[2]


def sdwh(home: Path, *args: str) -> dict:
    env = {**os.environ, "SDWH_HOME": str(home), "SDWH_TTP_KEY": "ab" * 32}
    out = subprocess.run([sys.executable, "-m", "sdwh", *args, "--json"], env=env,
                         capture_output=True, text=True, timeout=600)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no JSON from sdwh {args}: {out.stdout[-2000:]} {out.stderr[-2000:]}"
    return json.loads(lines[-1])


def panel_grain_test_sql(home: Path) -> str:
    """The SQL the last build ran for the compact panel's grain test (dbt hashes long names)."""
    run = home / "warehouse" / "dbt" / "target" / "run" / "sdwh"
    texts = [f.read_text() for f in run.rglob("unique_combination_int_person*.sql")]
    panel = [t for t in texts if "int_person_quarter_compact" in t]
    assert len(panel) == 1, f"{len(panel)} grain tests on the compact panel"
    return panel[0]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Synth 2024Q3-2025Q2; build without 2025Q2, then ingest it and build incrementally."""
    home = tmp_path_factory.mktemp("warehouse") / "home"
    sdwh(home, "synth", "--persons", "1500", "--from", "2024Q3", "--to", "2025Q2", "--seed", "7")
    os.environ["SDWH_TTP_KEY"] = "ab" * 32
    settings = Settings(home=home)
    folders = landing_folders(settings.landing_dir)
    new = [f for f in folders if any(m in f.name for m in NEW_QUARTER_MARKS)]
    ingest_all(settings, [f for f in folders if f not in new])
    first = sdwh(home, "build")
    ingest_all(settings, new)
    second = sdwh(home, "build")
    second_unique_sql = panel_grain_test_sql(home)
    incremental_db = home / "incremental.duckdb"
    shutil.copy(home / "warehouse" / "sdwh.duckdb", incremental_db)
    full = sdwh(home, "build", "--full-refresh")
    return {"home": home, "first": first, "second": second, "full": full,
            "second_unique_sql": second_unique_sql,
            "incremental_db": incremental_db, "full_db": home / "warehouse" / "sdwh.duckdb"}


def test_build_passes_every_dbt_test(warehouse: dict) -> None:
    for run in ("first", "second", "full"):
        payload = warehouse[run]
        assert payload["failures"] == [], payload["failures"]
        assert payload["tests"]["failed"] == 0 and payload["tests"]["errored"] == 0
        # an incremental build runs only the tests of what it rebuilt (47 of 137 here since
        # the compact panel: transitions are a view whose grain holds by construction)
        assert payload["tests"]["passed"] > (40 if run == "second" else 100)


def test_new_quarter_builds_incrementally_from_that_quarter(warehouse: dict) -> None:
    assert warehouse["first"]["mode"] == "full"
    assert warehouse["second"]["mode"] == "incremental"
    assert warehouse["second"]["refresh_from"] == "2025Q2"


def test_incremental_build_skips_seeds_and_tests_only_the_new_quarter(warehouse: dict) -> None:
    assert "seeds" not in warehouse["second"]["seconds_per_layer"]
    assert "seeds" in warehouse["full"]["seconds_per_layer"]
    assert warehouse["second"]["tests"]["passed"] < warehouse["full"]["tests"]["passed"]
    first_new_seq = 2025 * 4 + 1  # 2025Q2
    last_sql = panel_grain_test_sql(warehouse["home"])
    assert f"quarter_seq >= {first_new_seq}" not in last_sql  # the full rebuild ran last
    assert warehouse["second_unique_sql"].count(f"quarter_seq >= {first_new_seq}") == 1


def test_incremental_build_equals_full_rebuild(warehouse: dict) -> None:
    con = duckdb.connect()
    con.execute(f"attach '{warehouse['incremental_db']}' as inc (read_only)")
    con.execute(f"attach '{warehouse['full_db']}' as full_ (read_only)")
    for table in COMPARED:
        n_inc = con.execute(f"select count(*) from inc.{table}").fetchone()[0]
        n_full = con.execute(f"select count(*) from full_.{table}").fetchone()[0]
        assert n_inc == n_full > 0, table
        diff = con.execute(f"select count(*) from (select * from inc.{table} except all "
                           f"select * from full_.{table})").fetchone()[0]
        assert diff == 0, f"{table}: {diff} rows differ"
    quarters = con.execute(
        "select count(distinct quarter_seq) from full_.integrated.int_person_quarter_compact"
    ).fetchone()[0]
    assert quarters == 4


def test_rows_are_accounted_for_across_layers(warehouse: dict) -> None:
    con = duckdb.connect(str(warehouse["full_db"]), read_only=True)
    accepted = dict(con.execute(
        "select supplier || '__' || dataset, sum(rows_accepted) from raw.stg_landing__deliveries "
        "where is_current group by 1").fetchall())
    for name, n in accepted.items():
        staged = con.execute(f"select count(*) from raw.stg_{name}").fetchone()[0]
        assert staged == n, name
    residents = con.execute(
        "select count(*) from integrated.int_persons p join integrated.int_quarters q "
        "using (register_year)").fetchone()[0]
    panel = con.execute("select count(*) from integrated.int_person_quarter").fetchone()[0]
    assert panel == residents
    in_cells = con.execute(
        "select sum(denominator), sum(numerator) from publication.pub_employment_rate "
        "where geo_level = 'region' and sex_code = 'T'").fetchone()
    in_panel = con.execute(
        "select count(*), count(*) filter (where is_working) from integrated.int_person_quarter "
        "where age between 15 and 64 and municipality_refnis is not null").fetchone()
    assert in_cells == in_panel


def test_dbt_docs_generate_describes_every_model_and_column(warehouse: dict) -> None:
    target = warehouse["home"] / "docs_target"
    env = {**os.environ, "SDWH_HOME": str(warehouse["home"]), "DO_NOT_TRACK": "1"}
    out = subprocess.run(
        [sys.executable, "-c", "from dbt.cli.main import cli; cli()", "docs", "generate",
         "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT),
         "--target-path", str(target), "--log-path", str(target)],
        env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    catalog = json.loads((target / "catalog.json").read_text())
    manifest = json.loads((target / "manifest.json").read_text())
    models = {k: n for k, n in manifest["nodes"].items()
              if n["resource_type"] == "model" and n["config"].get("enabled", True)}
    assert len(models) > 20
    undocumented = [k for k, n in models.items() if not n["description"].strip()]
    undocumented += [f"{k}.{c}" for k, n in models.items() for c, col in n["columns"].items()
                     if not col["description"].strip()]
    assert undocumented == []
    for key, node in models.items():  # every built column is in the YAML
        built = catalog["nodes"].get(key, {}).get("columns", {})
        assert built, key
        missing = set(built) - {c.lower() for c in node["columns"]}
        assert not missing, f"{key}: undocumented columns {sorted(missing)}"
