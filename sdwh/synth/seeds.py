"""The code lists and calibration seeds the generator draws from (``seeds/*.csv``)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from sdwh.config import PROJECT_DIR

SEEDS = PROJECT_DIR / "seeds"


def read_seed(name: str) -> list[dict[str, str]]:
    path: Path = SEEDS / f"{name}.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@dataclass(frozen=True)
class Geography:
    """Municipalities of the 2019-2024 vintage and their 2025 code (merged ones change)."""

    refnis_2024: np.ndarray  # int32, the 300 codes
    refnis_2025: np.ndarray  # int32, same order: the code each one carries from 2025
    merged: np.ndarray  # bool: the municipality's code changes in 2025


@cache
def geography() -> Geography:
    rows = read_seed("refnis_municipality_flanders_2019_2024")
    codes = np.array([int(r["refnis"]) for r in rows], dtype=np.int32)
    merger = {int(r["refnis_2024"]): int(r["refnis_2025"])
              for r in read_seed("refnis_merger_map_flanders_2024_2025")}
    new = np.array([merger.get(int(c), int(c)) for c in codes], dtype=np.int32)
    return Geography(codes, new, np.array([int(c) in merger for c in codes]) & (new != codes))


@cache
def country_codes() -> dict[str, int]:
    """NIS country code by ISO-2 letter code."""
    return {r["iso2"]: int(r["nis_country_code"]) for r in read_seed("nis_country_codes")}


@cache
def eu_countries() -> frozenset[int]:
    return frozenset(int(r["nis_country_code"]) for r in read_seed("nis_country_codes")
                     if r["eu27_2020"] == "1")


@cache
def nace_divisions() -> tuple[list[str], list[str]]:
    """NACE-BEL 2008 divisions and NACE Rev. 2.1 divisions, as two-digit codes."""
    old = [r["code"] for r in read_seed("nace_bel_2008_sections_divisions")
           if r["level"] == "division"]
    new = [r["code"] for r in read_seed("nace_rev21_levels1_4") if r["level"] == "division"]
    return old, new


@cache
def population_marginal() -> tuple[list[str], np.ndarray]:
    """Age bands and persons per band as an array [band, sex] with sex 0 = M, 1 = F."""
    rows = read_seed("marginal_population_flanders_2025_sex_age5_ESTIMATE")
    return [r["age_band"] for r in rows], np.array(
        [[int(r["M"]), int(r["F"])] for r in rows], dtype=np.float64)


def codes(name: str, column: str = "code") -> list[str]:
    return [r[column] for r in read_seed(name)]
