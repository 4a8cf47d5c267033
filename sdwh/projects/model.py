"""A research project and its authorisation, as VSA staff record it.

The authorisation says who may see which data for how long: the legal basis and deliberation
reference, the organisation, the accredited researchers, the approved thematic datasets,
variables, period and population, the access window and how long data may be kept.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field, field_validator, model_validator

PROJECT_ID = re.compile(r"^[a-z0-9-]{3,40}$")
QUARTER = re.compile(r"^\d{4}Q[1-4]$")
USERNAME = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")


class ProjectState(StrEnum):
    """Where a project is in its life: requested → approved → active → expired/closed."""

    REQUESTED = "requested"
    APPROVED = "approved"
    ACTIVE = "active"
    EXPIRED = "expired"
    CLOSED = "closed"


class Project(BaseModel):
    """One research project with its authorisation (the registry's unit of record)."""

    id: str = Field(description="Slug, [a-z0-9-]{3,40}; names folders and servers.")
    title: str
    state: ProjectState = ProjectState.REQUESTED
    organisation: str
    legal_basis: str = Field(description="Legal basis, e.g. the decree article or GDPR basis.")
    deliberation_ref: str = Field("", description="Reference of the deliberation / "
                                  "authorisation by the information security committee.")
    requested_by: str
    accredited: list[str] = Field(description="Researchers named in the authorisation.")
    researchers: list[str] = Field(default_factory=list,
                                   description="Accredited researchers currently granted access.")
    revoked: list[str] = Field(default_factory=list, description="Researchers whose access "
                               "was revoked (they cannot be granted again).")
    datasets: list[str] = Field(description="Approved thematic datasets (thm_* models).")
    variables: list[str] = Field(description="Approved columns: `column` (any approved "
                                 "dataset) or `dataset.column`. person_id is always included, "
                                 "as a project pseudonym.")
    period_from: str
    period_to: str
    population: str | None = Field(None, description="Optional SQL condition on the dataset "
                                   "columns that selects the approved population.")
    start_date: date
    end_date: date
    retention_until: date = Field(description="Date by which extracts and outputs kept for "
                                  "replication must be destroyed.")
    created_at: datetime
    approved_by: str | None = None
    approved_at: datetime | None = None
    closed_reason: str | None = None

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not PROJECT_ID.match(value):
            raise ValueError(f"project id {value!r} must be 3-40 characters a-z, 0-9 or '-'")
        return value

    @field_validator("period_from", "period_to")
    @classmethod
    def _quarter(cls, value: str) -> str:
        if not QUARTER.match(value):
            raise ValueError(f"period {value!r} must be a quarter like 2024Q1")
        return value

    @field_validator("accredited", "researchers", "revoked")
    @classmethod
    def _usernames(cls, value: list[str]) -> list[str]:
        for name in value:
            if not USERNAME.match(name):
                raise ValueError(f"researcher {name!r} is not a valid account name")
        return sorted(set(value))

    @field_validator("datasets", "variables")
    @classmethod
    def _non_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one is required")
        return sorted(set(value))

    @model_validator(mode="after")
    def _dates(self) -> Project:
        if self.period_from > self.period_to:
            raise ValueError(f"period {self.period_from}-{self.period_to} ends before it starts")
        if self.start_date > self.end_date:
            raise ValueError(f"access window {self.start_date}..{self.end_date} ends before "
                             "it starts")
        if self.retention_until < self.end_date:
            raise ValueError("retention must last at least until the end date")
        return self

    def usable_on(self, on: date) -> bool:
        """Access is possible: the project is active and ``on`` lies in its window."""
        return self.state is ProjectState.ACTIVE and self.start_date <= on <= self.end_date
