"""A declared sample design (YAML), validated with pydantic so a bad design fails clearly."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from sdwh.errors import SdwhError

#: Stratification variables and the frame column each comes from.
STRATUM_COLUMNS = {
    "province": "province_refnis", "arrondissement": "arrondissement_refnis",
    "municipality": "municipality_refnis", "sex": "sex_code", "age_band": "age_band",
    "nationality_group": "nationality_group",
}
#: Variables that are the same for everyone in a household (allowed with household clusters).
HOUSEHOLD_LEVEL = {"province", "arrondissement", "municipality"}
#: What the survey organisation may receive about a sampled person, never the pseudonym.
CONTACT_FIELDS = {"insz", "municipality_refnis", "sex", "birth_year", "household_key"}
#: Administrative indicators Neyman allocation can use as the auxiliary variable.
AUXILIARY = {"working": "is_working", "unemployed": "is_unemployed"}


class Population(BaseModel):
    min_age: int = Field(15, ge=0, le=120)
    max_age: int = Field(74, ge=0, le=120)


class SampleDesign(BaseModel):
    """What to draw: from whom, stratified how, how many, clustered or not."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{2,40}$")
    reference_quarter: str
    population: Population = Population()
    strata: list[str] = Field(min_length=1)
    age_bands: list[int] = Field(default=[15, 25, 35, 45, 55, 65, 75],
                                 description="Band lower bounds plus the upper bound.")
    allocation: Literal["proportional", "neyman"] = "proportional"
    neyman_variable: str | None = None
    sample_size: int = Field(gt=0)
    min_per_stratum: int = Field(2, ge=1)
    cluster: Literal["none", "household"] = "none"
    contact_fields: list[str] = ["insz", "municipality_refnis"]

    @field_validator("reference_quarter")
    @classmethod
    def _quarter(cls, value: str) -> str:
        if not re.fullmatch(r"\d{4}Q[1-4]", value):
            raise ValueError("must look like 2025Q4")
        return value

    @field_validator("strata")
    @classmethod
    def _strata(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(STRATUM_COLUMNS))
        if unknown:
            raise ValueError(f"unknown stratum variable(s) {unknown}; "
                             f"choose from {sorted(STRATUM_COLUMNS)}")
        return value

    @field_validator("contact_fields")
    @classmethod
    def _contact(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - CONTACT_FIELDS)
        if unknown:
            raise ValueError(f"the survey organisation may not receive {unknown}; "
                             f"allowed: {sorted(CONTACT_FIELDS)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SampleDesign:
        if self.cluster == "household" and not set(self.strata) <= HOUSEHOLD_LEVEL:
            raise ValueError("with household clusters, strata must be household-level "
                             f"({sorted(HOUSEHOLD_LEVEL)})")
        if self.allocation == "neyman" and self.neyman_variable not in AUXILIARY:
            raise ValueError(f"Neyman allocation needs neyman_variable, one of {sorted(AUXILIARY)}")
        if sorted(self.age_bands) != self.age_bands or len(self.age_bands) < 2:
            raise ValueError("age_bands must be increasing bounds, at least two")
        if self.population.min_age > self.population.max_age:
            raise ValueError("population.min_age is above max_age")
        return self


def load_design(path: Path) -> SampleDesign:
    """Read and validate a design file; any fault becomes one clear sentence."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SdwhError(f"no design file at {path}",
                        "See sdwh/sampling/designs/ for an example design.") from None
    except yaml.YAMLError as exc:
        raise SdwhError(f"{path} is not valid YAML: {exc}".splitlines()[0],
                        "Check indentation and quoting.") from None
    try:
        return SampleDesign.model_validate(raw or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "design"
        raise SdwhError(f"{path}: field '{field}': {first['msg']}",
                        "Fix the design file; docs/survey-services.md lists every field.") from None
