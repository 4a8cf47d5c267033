"""The compiled warehouse is portable: a sqlglot check of every model (issue 9).

The project is compiled for DuckDB into a temporary target; each model must parse in the
DuckDB, Spark and Trino dialects and call only functions that all three engines have, or
that a dispatched macro emits for DuckDB. The Spark build itself is `make test-spark`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dbt
import pytest

from sdwh.config import PROJECT_DIR
from sdwh.warehouse import portability

DBT_INCLUDE = Path(dbt.__file__).parent / "include"


def macro_files(engine: str) -> list[Path]:
    """Project macros plus dbt's and the adapter's cross-database (utils) macros."""
    return [*sorted((PROJECT_DIR / "macros").rglob("*.sql")),
            *sorted((DBT_INCLUDE / "global_project" / "macros" / "utils").rglob("*.sql")),
            *sorted((DBT_INCLUDE / engine / "macros" / "utils").rglob("*.sql"))]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Model nodes of a DuckDB compile (compiled and raw SQL), from a throwaway target."""
    home = tmp_path_factory.mktemp("compile")
    (home / "warehouse" / "tmp").mkdir(parents=True)
    env = {**os.environ, "SDWH_HOME": str(home), "DO_NOT_TRACK": "1",
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    dbt_bin = Path(sys.executable).parent / "dbt"
    out = subprocess.run(
        [str(dbt_bin), "compile", "--project-dir", str(PROJECT_DIR), "--profiles-dir",
         str(PROJECT_DIR), "--target", "duckdb", "--target-path", str(home / "target"),
         "--log-path", str(home / "logs"), "--quiet"],
        env=env, cwd=home, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    manifest = json.loads((home / "target" / "manifest.json").read_text())
    nodes = {uid: n for uid, n in manifest["nodes"].items() if n["resource_type"] == "model"}
    assert len(nodes) >= 20
    return nodes


def test_every_compiled_model_parses_in_all_dialects_with_portable_functions(
        models: dict[str, dict]) -> None:
    allowed = portability.allowed_functions("duckdb", macro_files("duckdb"))
    problems = [str(p) for uid, node in sorted(models.items())
                for p in portability.check_compiled(uid, node["compiled_code"], "duckdb", allowed)]
    assert problems == []


def test_engine_specific_functions_enter_only_through_dispatched_macros(
        models: dict[str, dict]) -> None:
    problems = [str(p) for uid, node in sorted(models.items())
                for p in portability.check_written(uid, node["raw_code"])]
    plain = portability.plain_macros(sorted((PROJECT_DIR / "macros").rglob("*.sql")))
    problems += [str(p) for name, body in plain.items()
                 for p in portability.check_written(name, body)]
    assert problems == []


def test_duckdb_only_functions_in_the_build_come_from_dispatched_macros(
        models: dict[str, dict]) -> None:
    """The check is not vacuous: the build does use DuckDB-only functions, via dispatch."""
    used = set().union(*(portability.functions_in(n["compiled_code"], "duckdb")
                         for n in models.values()))
    engine_only = used - portability.PORTABLE_FUNCTIONS
    assert "list_sum" in engine_only  # top_n_sum, duckdb__ implementation
    assert engine_only <= portability.allowed_functions("duckdb", macro_files("duckdb"))
