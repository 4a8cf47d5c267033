"""One typed settings object for the whole system.

Every setting has a default and can be overridden by an environment variable named
``SDWH_<FIELD>`` (for example ``SDWH_HOME=/srv/sdwh``). ``docs/configuration.md`` lists them.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

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
    api_workers: int = Field(default=1, ge=1, le=16,
                             description="Processes serving the API (rate limits are divided "
                             "among them).")
    hub_mode: Literal["secure", "development"] = Field(
        default="secure", description="Enclave hub: `secure` refuses to start without its "
        "isolation; `development` runs servers unisolated (laptops, never real data).")
    hub_ip: str = Field(default="127.0.0.1", description="Address the enclave hub binds.")
    hub_port: int = Field(default=8000, description="Port of the enclave hub.")
    hub_runtime_dir: Path = Field(default=Path("/run/sdwh-hub"),
                                  description="Root-owned directory for the hub's sockets and "
                                  "the sessions' audit spools (outside the data root).")
    hub_enclave_env: Path | None = Field(
        default=None, description="Python environment of the researcher side (JupyterLab, "
        "kernel). Unset: .venv-enclave beside the code.")
    hub_session_bytes: int = Field(default=64 * 1024 * 1024, ge=0,
                                   description="Bytes one server session may send to the "
                                   "browser, JupyterLab's own assets excluded.")
    hub_idle_timeout: int = Field(default=3600, ge=1,
                                  description="Seconds without activity before a server stops.")
    hub_max_age: int = Field(default=8 * 3600, ge=1,
                             description="Seconds a server and a login last at most.")
    hub_cull_every: int = Field(default=300, ge=1,
                                description="Seconds between idle-culler rounds.")
    hub_auth: Literal["totp", "oidc"] = Field(
        default="totp", description="Login: hub accounts with password + TOTP, or OpenID "
        "Connect with MFA at the identity provider.")
    hub_oidc_authorize_url: str = Field(default="", description="OIDC authorization endpoint.")
    hub_oidc_token_url: str = Field(default="", description="OIDC token endpoint.")
    hub_oidc_userdata_url: str = Field(default="", description="OIDC userinfo endpoint.")
    hub_oidc_client_id: str = Field(default="", description="OIDC client id of the hub.")
    hub_oidc_client_secret: SecretStr | None = Field(default=None,
                                                     description="OIDC client secret.")
    hub_oidc_callback_url: str = Field(default="", description="Public URL of "
                                       "/hub/oauth_callback.")

    airlock_checkers: str = Field(
        default="", description="Accounts of VSA output checkers, comma separated.")
    airlock_max_file_bytes: int = Field(default=16 * 1024 * 1024, ge=1,
                                        description="Largest file an export request may hold.")
    airlock_max_rows: int = Field(default=5000, ge=1,
                                  description="Most rows a table output may have.")
    airlock_fast_path: bool = Field(
        default=False, description="One review suffices for requests whose files are all of a "
        "safe class (model summaries) with a passing automatic check.")
    airlock_fast_path_sample: float = Field(
        default=0.25, ge=0, le=1,
        description="Share of fast-path releases drawn for an ex-post second review.")

    publish_threshold: int = Field(
        default=10, ge=1,
        description="Published cells need at least this many distinct persons (and so do "
        "their complements); smaller ones are suppressed.")
    publish_base_url: str = Field(
        default="https://statistiek.vlaanderen.be/sdwh",
        description="Public address the site and releases are served from (DCAT links).")
    publish_workers: int = Field(
        default=0, ge=0,
        description="Processes that protect a release's tables in parallel (0: one per CPU, "
        "at most 4); the release is the same whatever the number.")
    publish_time_budget: float = Field(
        default=120.0, ge=0,
        description="Seconds (wall clock) the secondary suppression of one publication table "
        "may take; a table that overruns falls back to suppressing all its cells (audited, "
        "stated in the release). 0: no limit.")

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
