"""Shared fixtures: the reference data sets shipped with the SDC evidence report."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

REFERENCE = Path("/work/shared/reference/sdc")
LOCAL = Path(__file__).parent / "data"


def _load(name: str) -> pd.DataFrame:
    for folder in (LOCAL, REFERENCE):
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
