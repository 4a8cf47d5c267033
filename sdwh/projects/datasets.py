"""Which thematic datasets a project may ask for, and their columns (from the dbt YAML).

The thematic layer's YAML is the contract (enforced in dbt), so an authorisation is checked
against it when recorded, before any warehouse exists.
"""

from __future__ import annotations

from functools import cache

import yaml

from sdwh.config import PROJECT_DIR
from sdwh.errors import SdwhError

THEMATIC_YAML = PROJECT_DIR / "models" / "thematic" / "_thematic__models.yml"
PERSON_COLUMN = "person_id"
#: The column each dataset's period filter applies to.
PERIOD_COLUMNS = ("quarter", "leaving_quarter")
#: Columns that identify or locate a person: quasi-identifiers for the extract's risk report.
QUASI_IDENTIFIERS = ("age", "age_band", "sex_code", "municipality_refnis",
                     "arrondissement_refnis", "province_refnis", "nationality_group",
                     "origin_group", "education_level_3", "isced_level")


@cache
def thematic_columns() -> dict[str, tuple[str, ...]]:
    """Dataset name → its contracted columns, in contract order."""
    doc = yaml.safe_load(THEMATIC_YAML.read_text())
    return {m["name"]: tuple(c["name"] for c in m.get("columns", []))
            for m in doc.get("models", [])}


def period_column(columns: tuple[str, ...] | list[str]) -> str | None:
    return next((c for c in PERIOD_COLUMNS if c in columns), None)


def check_authorisation(datasets: list[str], variables: list[str]) -> None:
    """Every dataset is a thematic dataset; every variable is a column of one of them."""
    known = thematic_columns()
    for name in datasets:
        if name not in known:
            raise SdwhError(f"{name} is not a thematic dataset.",
                            f"Thematic datasets: {', '.join(sorted(known))}.")
    for variable in variables:
        dataset, _, column = variable.rpartition(".")
        scope = [dataset] if dataset else datasets
        if dataset and dataset not in datasets:
            raise SdwhError(f"Variable {variable} names dataset {dataset}, which is not among "
                            "the approved datasets.", f"Approved: {', '.join(datasets)}.")
        if not any(column in known[d] for d in scope):
            raise SdwhError(f"Variable {variable} is not a column of "
                            f"{' or '.join(scope)}.", "See models/thematic/_thematic__models.yml "
                            "or docs/data-model.md for the columns.")


def selected_columns(dataset: str, available: list[str], variables: list[str]) -> list[str]:
    """The columns of ``dataset`` an extract carries: person_id, the period, the approved ones."""
    wanted = {PERSON_COLUMN}
    period = period_column(available)
    if period:
        wanted.add(period)
    for variable in variables:
        scope, _, column = variable.rpartition(".")
        if scope in ("", dataset):
            wanted.add(column)
    return [c for c in available if c in wanted]
