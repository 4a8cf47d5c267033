"""Where the dbt project and the warehouse files live, and what dbt needs before it starts."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from sdwh.config import PROJECT_DIR, Settings
from sdwh.errors import SdwhError

#: The supplier datasets the staging models read, as (supplier, dataset).
RAW_DATASETS = (
    ("rr", "population"), ("rsz", "dmfa_employment_lines"), ("rsvz", "selfemployed"),
    ("rva", "unemployment_benefits"), ("vdab", "jobseekers"), ("podmi", "social_integration"),
    ("ahovoks", "qualifications"),
)
LAYERS = ("raw", "integrated", "thematic", "publication")


@dataclass(frozen=True)
class WarehousePaths:
    """The files of one warehouse under the data root."""

    root: Path

    @property
    def directory(self) -> Path:
        return self.root / "warehouse"

    @property
    def database(self) -> Path:
        return self.directory / "sdwh.duckdb"

    @property
    def external_root(self) -> Path:
        return self.directory / "parquet"

    @property
    def state_file(self) -> Path:
        return self.directory / "build_state.json"

    @property
    def dbt_target(self) -> Path:
        """dbt's compiled SQL and manifest: per data root, so two homes never share a parse."""
        return self.directory / "dbt" / "target"

    @property
    def dbt_logs(self) -> Path:
        return self.directory / "dbt" / "logs"

    @property
    def has_linked_survey(self) -> bool:
        """Survey models are built once `sdwh sample link` has written weights."""
        return any((self.root / "raw" / "statbel" / "lfs_weights").glob("*/*/data.parquet"))

    @property
    def deliveries(self) -> Path:
        return self.root / "raw" / "_deliveries.parquet"


def warehouse_paths(settings: Settings) -> WarehousePaths:
    return WarehousePaths(settings.root)


def prepare_environment(settings: Settings) -> WarehousePaths:
    """Create the warehouse folders and export what profiles.yml reads (absolute paths)."""
    paths = warehouse_paths(settings)
    for folder in (paths.directory, paths.external_root, paths.directory / "tmp"):
        folder.mkdir(parents=True, exist_ok=True)
    os.environ["SDWH_HOME"] = str(paths.root)
    os.environ["SDWH_DUCKDB_THREADS"] = str(settings.duckdb_threads)
    os.environ["SDWH_DUCKDB_MEMORY_LIMIT"] = settings.duckdb_memory_limit
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    return paths


def current_deliveries(paths: WarehousePaths) -> list[tuple[str, str, str, str]]:
    """(delivery_id, supplier, dataset, reference_period) of every accepted delivery."""
    if not paths.deliveries.is_file():
        raise SdwhError(f"no delivery register at {paths.deliveries}",
                        "Run `sdwh ingest` first (after `sdwh synth` for synthetic data).")
    rows = duckdb.sql(
        "select delivery_id, supplier, dataset, reference_period "
        f"from read_parquet('{paths.deliveries}') where status = 'accepted' "
        "order by supplier, dataset, reference_period").fetchall()
    return [tuple(r) for r in rows]


def check_raw_store(deliveries: list[tuple[str, str, str, str]]) -> None:
    """Every dataset the warehouse reads needs at least one accepted delivery."""
    present = {(s, d) for _, s, d, _ in deliveries}
    missing = [f"{s}/{d}" for s, d in RAW_DATASETS if (s, d) not in present]
    if missing:
        raise SdwhError(f"the raw store has no accepted delivery of {', '.join(missing)}",
                        "Ingest at least one delivery of every dataset (`sdwh ingest`).")


def project_dir() -> Path:
    return PROJECT_DIR
