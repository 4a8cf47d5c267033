"""infra/spark and infra/trino: what can be checked without a cluster is checked (issue 9).

dbt parses the project against the Trino target and the cluster (thrift) profile, which
validates the profiles and every engine branch of the source and model configuration; the
Trino DDL for the raw store matches the dbt sources; the property files are well formed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlglot

from sdwh.config import PROJECT_DIR
from sdwh.warehouse.scaleout import raw_store_tables, trino_raw_store_sql

pytestmark = pytest.mark.spark
INFRA = PROJECT_DIR / "infra"


def dbt_parse(tmp_path: Path, profiles_dir: Path, target: str) -> dict:
    pytest.importorskip(f"dbt.adapters.{target if target != 'cluster' else 'spark'}")
    env = {**os.environ, "SDWH_HOME": str(tmp_path), "SDWH_SPARK_HOST": "127.0.0.1",
           "DO_NOT_TRACK": "1"}
    out = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "parse", "--project-dir", str(PROJECT_DIR),
         "--profiles-dir", str(profiles_dir), "--target", target,
         "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return json.loads((tmp_path / "target" / "manifest.json").read_text())


def test_project_parses_for_the_trino_target(tmp_path: Path) -> None:
    manifest = dbt_parse(tmp_path, PROJECT_DIR, "trino")
    sources = [s for s in manifest["sources"].values() if s["source_name"] == "rr"]
    assert sources[0]["database"] == "hive" and sources[0]["schema"] == "raw_store"
    assert sources[0]["identifier"] == "rr__population"


def test_project_parses_for_the_spark_cluster_profile(tmp_path: Path) -> None:
    manifest = dbt_parse(tmp_path, INFRA / "spark", "cluster")
    panel = manifest["nodes"]["model.sdwh.int_person_quarter_compact"]
    assert panel["config"]["partition_by"] == "quarter_seq"
    assert panel["config"]["incremental_strategy"] == "insert_overwrite"
    incremental = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"
                   and n["config"]["materialized"] == "incremental"]
    # every model that must be refreshed by period rather than rebuilt (the transitions are a
    # view over the compact panel since it stores numbers only)
    assert {n["name"] for n in incremental} == {
        "int_person_quarter_activity", "int_person_quarter_compact", "int_persons",
        "thm_neet_youth", "pub_employment_rate", "pub_nwwz", "pub_work_shares"}
    for node in incremental:
        # insert_overwrite equals delete+insert on the unique key only when the table is
        # partitioned by that key; otherwise Spark replaces the whole table with the refreshed
        # periods (spark__incremental_strategy also refuses such a model at run time).
        assert node["config"]["partition_by"] == node["config"]["unique_key"], node["name"]
    source = next(s for s in manifest["sources"].values() if s["source_name"] == "rsz")
    assert source["identifier"].startswith("`") and source["identifier"].endswith(
        "/raw/rsz/dmfa_employment_lines/*/*/data.parquet`")


def test_trino_raw_store_ddl_matches_the_dbt_sources() -> None:
    committed = (INFRA / "trino" / "raw_store.sql").read_text()
    assert committed.strip() == trino_raw_store_sql(PROJECT_DIR / "models").strip(), (
        "run: python -m sdwh.warehouse.scaleout trino-ddl > infra/trino/raw_store.sql")
    sql = committed.replace("${SDWH_RAW_URI}", "s3://b/raw").replace(
        "${SDWH_REGISTER_URI}", "s3://b/warehouse/register")
    statements = [s for s in sqlglot.parse(sql, read="trino") if s is not None]
    typed = [t for t in raw_store_tables(PROJECT_DIR / "models") if all(d for _, d in t[2])]
    assert len(statements) == 1 + len(typed)  # the schema, then one table per source table
    assert len(typed) >= 8


def properties(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, val = line.partition("=")
            assert sep and key.strip() and val.strip(), f"{path.name}: {line!r}"
            pairs[key.strip()] = val.strip()
    return pairs


def test_trino_catalogs_are_well_formed() -> None:
    iceberg = properties(INFRA / "trino" / "catalog" / "iceberg.properties")
    hive = properties(INFRA / "trino" / "catalog" / "hive.properties")
    assert iceberg["connector.name"] == "iceberg"
    assert hive["connector.name"] == "hive"
    assert hive["hive.recursive-directories"] == "true"  # one folder per delivery
    assert properties(INFRA / "trino" / "config.properties")["coordinator"] == "true"


def test_spark_defaults_keep_the_local_target_semantics() -> None:
    import yaml

    conf = {}
    for line in (INFRA / "spark" / "spark-defaults.conf").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, val = line.split(None, 1)
            assert key.startswith("spark."), key
            conf[key] = val.strip()
    local = yaml.safe_load((PROJECT_DIR / "profiles.yml").read_text())[
        "sdwh"]["outputs"]["spark"]["server_side_parameters"]
    for key in ("spark.sql.session.timeZone", "spark.sql.parquet.mergeSchema"):
        assert conf[key] == str(local[key]), key
