"""The second wall of guarded SQL: a connection that could not do harm if the guard failed.

The published-tables file (protected aggregates only; no microdata, no raw counts) is opened
read-only with external access disabled (no file reads or writes, ATTACH, COPY, extension
loading), extension autoloading off and the configuration locked, so SET cannot undo any of
it. Each query runs on its own cursor with a memory limit and is interrupted after a timeout.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from sdwh.errors import SdwhError
from sdwh.query.sqlguard import SqlCatalogue

WALL_CONFIG = {
    "access_mode": "READ_ONLY",
    "enable_external_access": False,
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "allow_community_extensions": False,
    "lock_configuration": True,
}


def open_published(path: Path, memory_limit: str = "1GB", threads: int = 2
                   ) -> duckdb.DuckDBPyConnection:
    """The locked-down, read-only connection to the published tables."""
    if not path.is_file():
        raise SdwhError(f"The published tables {path} do not exist.", "Run `sdwh api build`.")
    return duckdb.connect(str(path), read_only=True,
                          config={**WALL_CONFIG, "memory_limit": memory_limit,
                                  "threads": threads})


def sql_catalogue(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, str]]:
    """Table → {column → type} of the published file's main schema (what the guard admits)."""
    cat: dict[str, dict[str, str]] = {}
    for table, column, dtype in con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position").fetchall():
        cat.setdefault(table, {})[column] = dtype
    return cat


def table_comments(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return dict(con.execute("SELECT table_name, comment FROM duckdb_tables() "
                            "WHERE schema_name = 'main'").fetchall())


@dataclass
class SqlAnswer:
    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool


def run_checked(con: duckdb.DuckDBPyConnection, sql: str, max_rows: int,
                timeout: float) -> SqlAnswer:
    """Run SQL the guard produced; at most ``max_rows`` rows, interrupted after ``timeout``."""
    cur = con.cursor()
    timer = threading.Timer(timeout, cur.interrupt)
    timer.start()
    try:
        cur.execute(f"SELECT * FROM ({sql}) AS q LIMIT {int(max_rows) + 1}")
        rows = cur.fetchall()
        columns = [d[0] for d in cur.description]
        types = [str(d[1]) for d in cur.description]
    except duckdb.InterruptException as err:
        raise SdwhError(f"The query ran longer than {timeout:g} s and was stopped.",
                        "Filter or aggregate more; avoid joins that multiply rows.") from err
    except duckdb.OutOfMemoryException as err:
        raise SdwhError("The query needed more memory than a query may use.",
                        "Filter or aggregate more; avoid joins that multiply rows.") from err
    except duckdb.Error as err:
        first = str(err).splitlines()[0][:200]
        raise SdwhError(f"The query failed: {first}", "Check the SQL.") from err
    finally:
        timer.cancel()
        cur.close()
    return SqlAnswer(columns, types, rows[:max_rows], len(rows) > max_rows)


def catalogue_for_guard(con: duckdb.DuckDBPyConnection) -> SqlCatalogue:
    return sql_catalogue(con)
