"""One typed settings object for the whole system.

Every setting has a default and can be overridden by an environment variable named
``SDWH_<FIELD>`` (for example ``SDWH_HOME=/srv/sdwh``). ``docs/configuration.md`` lists them.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_DIR = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Where data live and how the pipeline behaves."""

    model_config = SettingsConfigDict(env_prefix="SDWH_", extra="ignore")

    home: Path = Field(
        default=Path("var"),
        description="Data root: landing zone, raw store, quarantine, register, warehouse.",
    )
    ttp_key: SecretStr | None = Field(
        default=None,
        description="TTP pseudonymisation key (64 hex chars). Unset: read or create "
        "<home>/secrets/ttp.key (mode 0600).",
    )
    duckdb_threads: int = Field(default=2, description="Threads DuckDB may use.")
    ingest_workers: int = Field(
        default=2, ge=1,
        description="Reference periods ingested side by side (each with its own DuckDB).")
    duckdb_memory_limit: str = Field(default="8GB", description="DuckDB memory limit.")
    systematic_fault_share: float = Field(
        default=0.5,
        description="A delivery whose rows fail one rule more often than this share is "
        "rejected whole (for example amounts sent in the wrong unit).",
    )
    api_host: str = Field(default="127.0.0.1",
                          description="Address the policy-service API binds (loopback by default).")
    api_port: int = Field(default=8750, description="Port of the policy-service API.")
    api_warehouse: Path | None = Field(
        default=None, description="Warehouse DuckDB the product cubes are built from (read-only). "
        "Unset: <home>/warehouse/sdwh.duckdb.")
    api_cellkey_key: SecretStr | None = Field(
        default=None, description="Cell key secret (64 hex chars). Unset: read or create "
        "<home>/secrets/cellkey.key (mode 0600).")
    api_rate_limit: int = Field(default=120, ge=1,
                                description="Default requests per minute per API token.")
    api_max_cells: int = Field(default=100_000, ge=1,
                               description="Largest table (cells) the table builder returns.")
    api_sql_max_rows: int = Field(default=10_000, ge=1,
                                  description="Row limit of a guarded SQL answer.")
    api_sql_timeout: float = Field(default=5.0, gt=0,
                                   description="Seconds a guarded SQL query may run.")
    api_cache_entries: int = Field(default=2048, ge=0,
                                   description="Protected tables kept in the answer cache.")

    @cached_property
    def root(self) -> Path:
        """The data root as an absolute path."""
        return self.home.expanduser().resolve()

    @property
    def landing_dir(self) -> Path:
        return self.root / "landing"

    @property
    def raw_dir(self) -> Path:
        return self.root / "raw"

    @property
    def quarantine_dir(self) -> Path:
        return self.root / "quarantine"

    @property
    def secrets_dir(self) -> Path:
        return self.root / "secrets"

    @property
    def register_path(self) -> Path:
        return self.root / "register.sqlite"

    @property
    def seeds_dir(self) -> Path:
        return PROJECT_DIR / "seeds"


def get_settings() -> Settings:
    """Settings as the environment says now (not cached: tests change SDWH_HOME)."""
    return Settings()
