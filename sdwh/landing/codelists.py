"""Code lists the record rules look codes up in, loaded from the dbt seeds in ``seeds/``.

The landing zone and the warehouse read the same files, so a code accepted at the door is a
code the warehouse can label.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from sdwh.landing.contracts import Contract


def _load(con: duckdb.DuckDBPyConnection, table: str, csv: Path, where: str = "") -> None:
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM "
        f"read_csv('{csv}', all_varchar=true, header=true) {where}"
    )


def load_codelists(con: duckdb.DuckDBPyConnection, seeds: Path, contract: Contract) -> None:
    """Create the temp tables ``column_rule`` expressions refer to."""
    types = {c.type for c in contract.columns}
    if "refnis" in types:
        _load(con, "refnis_2019", seeds / "refnis_municipality_flanders_2019_2024.csv")
        _load(con, "refnis_2025", seeds / "refnis_municipality_flanders_2025.csv")
        _load(con, "refnis_merger", seeds / "refnis_merger_map_flanders_2024_2025.csv")
    if "nace" in types:
        _load(con, "nace_2008", seeds / "nace_bel_2008_sections_divisions.csv",
              "WHERE level = 'division'")
        _load(con, "nace_2025", seeds / "nace_rev21_levels1_4.csv", "WHERE level = 'division'")
    for col in contract.columns:
        if col.codelist:
            _load(con, f"codelist_{col.codelist}", seeds / f"{col.codelist}.csv")
