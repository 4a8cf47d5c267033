"""Calibration: indicators of a 100 k-person synthetic population within ±1.5 pp of the targets
(domain report §4, seeds/marginals_labour_market_flanders.csv).

Marked benchmark: synth + ingest + build of 100 k persons takes several minutes on 2 cores.
Set SDWH_CALIBRATION_HOME to an already built data root to check it without rebuilding.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

TOLERANCE_PP = 1.5
QUARTER = "2024Q4"
#: indicator -> (target %, SQL over integrated.int_person_quarter of the quarter)
TARGETS = {
    "employment rate 20-64": (76.8, "avg(case when is_working then 100.0 else 0 end)",
                              "age between 20 and 64"),
    "employment rate 20-64 men": (80.3, "avg(case when is_working then 100.0 else 0 end)",
                                  "age between 20 and 64 and sex_code = 'M'"),
    "employment rate 20-64 women": (73.3, "avg(case when is_working then 100.0 else 0 end)",
                                    "age between 20 and 64 and sex_code = 'F'"),
    "employment rate 55-64": (60.8, "avg(case when is_working then 100.0 else 0 end)",
                              "age between 55 and 64"),
    "self-employed share of workers 20-64": (
        14.0, "avg(case when is_self_employed_main_job then 100.0 else 0 end)",
        "age between 20 and 64 and is_working"),
    "part-time share of employees": (
        27.6, "avg(case when is_parttime_employee then 100.0 else 0 end)", "has_employee_job"),
    "non-Belgian nationality": (11.0, "avg(case when nationality_group in ('eu', 'non_eu') "
                                      "then 100.0 else 0 end)", "true"),
}


def built_home(tmp_path: Path) -> Path:
    given = os.environ.get("SDWH_CALIBRATION_HOME")
    if given:
        return Path(given)
    home = tmp_path / "home"
    env = {**os.environ, "SDWH_HOME": str(home), "SDWH_TTP_KEY": "ab" * 32}
    for args in (["synth", "--persons", "100000", "--from", "2024Q1", "--to", "2024Q4"],
                 ["ingest"], ["build"]):
        subprocess.run([sys.executable, "-m", "sdwh", *args, "--json"], env=env, check=True,
                       capture_output=True, timeout=3600)
    return home


@pytest.mark.benchmark
def test_indicators_match_calibration_targets(tmp_path: Path) -> None:
    home = built_home(tmp_path)
    con = duckdb.connect(str(home / "warehouse" / "sdwh.duckdb"), read_only=True)
    off = {}
    for name, (target, measure, where) in TARGETS.items():
        value = con.execute(f"select {measure} from integrated.int_person_quarter "
                            f"where quarter = ? and {where}", [QUARTER]).fetchone()[0]
        if abs(value - target) > TOLERANCE_PP:
            off[name] = (round(value, 2), target)
    assert not off, f"outside ±{TOLERANCE_PP} pp (value, target): {off}"
