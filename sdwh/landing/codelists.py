"""Code lists the record rules check codes against, read from the dbt seeds in ``seeds/``.

The landing zone and the warehouse read the same files, so a code accepted at the door is a
code the warehouse can label. Lists are small (≤ 300 codes), so rules inline them as SQL
literals: that plans far faster than a join per column.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path


def _column(seeds: Path, name: str, column: str, where: dict[str, str] | None = None
            ) -> tuple[str, ...]:
    with (seeds / f"{name}.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return tuple(r[column] for r in rows if all(r[k] == v for k, v in (where or {}).items()))


@dataclass(frozen=True)
class CodeLists:
    """The code lists of every contract, with the REFNIS vintages and the merger map."""

    seeds: Path
    refnis_2019: tuple[str, ...]
    refnis_2025: tuple[str, ...]
    refnis_merger: dict[str, str]
    nace: dict[str, tuple[str, ...]]

    def codes(self, codelist: str, column: str) -> tuple[str, ...]:
        return _column(self.seeds, codelist, column)


@cache
def load_codelists(seeds: Path) -> CodeLists:
    with (seeds / "refnis_merger_map_flanders_2024_2025.csv").open(encoding="utf-8") as fh:
        merger = {r["refnis_2024"]: r["refnis_2025"] for r in csv.DictReader(fh)}
    return CodeLists(
        seeds=seeds,
        refnis_2019=_column(seeds, "refnis_municipality_flanders_2019_2024", "refnis"),
        refnis_2025=_column(seeds, "refnis_municipality_flanders_2025", "refnis"),
        refnis_merger=merger,
        nace={
            "2008": _column(seeds, "nace_bel_2008_sections_divisions", "code",
                            {"level": "division"}),
            "2025": _column(seeds, "nace_rev21_levels1_4", "code", {"level": "division"}),
        },
    )
