"""Shared fixtures: the reference data sets shipped with the SDC evidence report."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

# The SDC evidence report's data sets live in shared/ beside the checkout (as in CI); only
# francdat, printed in the issue itself, is kept in the repository.
LOCAL = Path(__file__).parent / "data"
REFERENCES = (Path(__file__).resolve().parents[3] / "shared" / "reference" / "sdc",
              Path("/work/shared/reference/sdc"))


def _load(name: str) -> pd.DataFrame:
    for folder in (LOCAL, *REFERENCES):
        if (folder / name).exists():
            return pd.read_csv(folder / name)
    pytest.skip(f"reference data {name} is not available")


@pytest.fixture
def francdat() -> pd.DataFrame:
    return _load("francdat.csv")


@pytest.fixture
def testdata() -> pd.DataFrame:
    return _load("testdata.csv")


@pytest.fixture
def microdata1() -> pd.DataFrame:
    return _load("microdata1.csv")
