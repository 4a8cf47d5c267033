"""Declared contracts of supplier datasets, loaded from ``contracts/<supplier>__<dataset>.yml``.

A contract says what a delivery must look like (format, columns, types, code lists, ranges)
and which columns carry national register numbers to pseudonymise. Validation and the
synthetic generator both read these files, so they cannot drift apart.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, model_validator

CONTRACTS_DIR = Path(__file__).parent / "contracts"

ColumnType = Literal[
    "insz", "kbo", "rsz_employer", "refnis", "nace", "code", "integer", "decimal", "date",
    "amount", "period", "string", "sample_key",
]
Unit = Literal["cent", "eur", "keur"]
Period = Literal["year", "quarter", "month"]

#: How many euros one unit is worth.
EUROS_PER_UNIT: dict[str, float] = {"cent": 0.01, "eur": 1.0, "keur": 1000.0}


class Column(BaseModel):
    """One column of a supplier file and the rule its values must follow."""

    name: str
    type: ColumnType
    required: bool = True
    codelist: str | None = Field(None, description="Seed file (without .csv) of allowed codes.")
    column: str = Field("code", description="Column of the code list holding the codes.")
    range: tuple[float | str, float | str] | None = None
    format: str | None = Field(None, description="strptime format of a date column.")
    unit: Unit | None = Field(None, description="Default unit of an amount column.")
    pattern: str | None = Field(None, description="Regular expression a string must match.")
    pseudonym: str | None = Field(None, description="Name of the pseudonym that replaces it.")
    sample_column: str | None = Field(
        None, description="For a sample_key column: the column naming the TTP sample that "
        "issued the key (the TTP resolves the key to the pseudonym through that sample).")

    @model_validator(mode="after")
    def _sample_key_resolvable(self) -> Column:
        if self.type == "sample_key" and not (self.sample_column and self.pseudonym):
            raise ValueError(f"sample_key column {self.name} needs sample_column and pseudonym")
        return self


class CsvDialect(BaseModel):
    delimiter: str = ","
    encoding: str = "utf-8"


class Contract(BaseModel):
    """What one supplier dataset's deliveries must look like."""

    supplier: str
    dataset: str
    title: str
    description: str
    period: Period
    due_days: int = Field(description="Days after the end of the reference period it is due.")
    origin: Literal["administrative", "survey"] = Field(
        "administrative", description="Survey datasets answer a TTP sample; synth writes them "
        "only for a drawn sample (`sdwh sample synth-responses`).")
    format: Literal["csv", "parquet"]
    csv: CsvDialect = CsvDialect()
    unique: list[str]
    columns: list[Column]

    @property
    def key(self) -> str:
        return f"{self.supplier}__{self.dataset}"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


@cache
def load_contracts() -> dict[str, Contract]:
    """All contracts, keyed ``<supplier>__<dataset>``."""
    contracts = {}
    for path in sorted(CONTRACTS_DIR.glob("*.yml")):
        contract = Contract.model_validate(yaml.safe_load(path.read_text()))
        contracts[contract.key] = contract
    return contracts


def find_contract(supplier: str, dataset: str) -> Contract | None:
    return load_contracts().get(f"{supplier}__{dataset}")
