"""A sandboxed DuckDB over one frozen extract: its tables as views, nothing else reachable.

Used by the researcher helper (``sdwh.enclave.project``) and by the airlock when it re-runs a
recorded query. The connection is in memory; only the extract's own Parquet files are on the
allowed list, then external access is switched off and the configuration locked, so SQL
cannot read other files, write files, attach databases or load extensions.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from sdwh.errors import SdwhError
from sdwh.projects.extract import read_manifest


def open_extract(extract: Path, threads: int = 2, memory_limit: str = "2GB"
                 ) -> tuple[duckdb.DuckDBPyConnection, dict]:
    """(connection, manifest) for the extract folder ``extract`` (resolved, so pinned)."""
    folder = Path(extract).resolve()
    manifest = read_manifest(folder)
    files = {name: folder / t["file"] for name, t in manifest["tables"].items()}
    con = duckdb.connect(":memory:", config={"threads": threads, "memory_limit": memory_limit})
    try:
        con.execute("set allowed_paths = $paths", {"paths": [str(p) for p in files.values()]})
        con.execute("set enable_external_access = false")
        for name, path in files.items():
            con.execute(f"create view \"{name}\" as select * from read_parquet('{path}')")
        con.execute("set lock_configuration = true")
    except duckdb.Error as err:
        con.close()
        raise SdwhError(f"The extract {folder} cannot be opened ({str(err).splitlines()[0]}).",
                        "Ask VSA staff to check the extract (`sdwh project show`).") from None
    return con, manifest
