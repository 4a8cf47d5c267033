"""ACRO 1.0.2 as an oracle, run in its own interpreter (acro pins pandas < 3, we use 3).

Set SDWH_ACRO_PYTHON or create var/acro-venv (docs/disclosure.md, "Testing against ACRO").
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from disclosure.differencing import check_new_table, from_crosstab
from disclosure.rules import RuleParams, TableSpec, add_zero_cells, apply_rules, cell_stats
from disclosure.tests.acro_leak import leak_microdata

ROOT = Path(__file__).resolve().parents[2]
ACRO_PY = Path(os.environ.get("SDWH_ACRO_PYTHON", ROOT / "var/acro-venv/bin/python"))
pytestmark = pytest.mark.skipif(
    not ACRO_PY.exists(),
    reason=f"ACRO oracle interpreter {ACRO_PY} not found (acro needs pandas<3; see docs)")


def _acro(df: pd.DataFrame, tmp_path: Path, **req) -> dict:
    csv = tmp_path / "data.csv"
    df.to_csv(csv, index=False)
    out = subprocess.run([str(ACRO_PY), str(Path(__file__).with_name("acro_oracle.py")),
                          str(csv), json.dumps(req)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _wide(result: dict) -> pd.DataFrame:
    t = result["table"]
    return pd.DataFrame(t["data"], index=t["index"], columns=t["columns"]).astype(float)


def test_real_acro_outputs_leak_and_the_leak_is_caught(tmp_path):
    df = leak_microdata()
    a = _acro(df, tmp_path, row="region", col="agegrp", suppress=True, margins=True)
    b = _acro(df, tmp_path, row="region", col="sex", suppress=True, margins=True)
    ta = from_crosstab("A", _wide(a), "region", "agegrp", margins_exclude_suppressed=True)
    tb = from_crosstab("B", _wide(b), "region", "sex", margins_exclude_suppressed=True)
    assert _wide(a).loc["All", "All"] - _wide(b).loc["All", "All"] == 9
    found = check_new_table(df, [ta], tb)
    assert any(f.cell == {"region": "BRU", "sex": "F"} and f.lo == f.hi == 9 for f in found)


def _synthetic(seed: int = 11, n: int = 4000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "region": rng.choice(["ANT", "LIM", "OVL", "WVL", "BRU"], n, p=[.3, .2, .25, .24, .01]),
        "sector": rng.choice(list("ABCDEFG"), n, p=[.3, .2, .2, .15, .1, .04, .01]),
        "wage": rng.lognormal(10, 0.5, n).round(2)})
    df.loc[0, ["region", "sector", "wage"]] = ["LIM", "C", 5e7]  # planted dominance
    df.loc[1:2, ["region", "sector"]] = ["OVL", "D"]
    df.loc[1:2, "wage"] = [2e7, 1e7]
    return df


def _flags(result: dict, rule: str) -> set[tuple[str, str]]:
    t = result["table"]
    return {(t["index"][r], t["columns"][c]) for r, c in result["cells"].get(rule, [])}


def test_threshold_dominance_and_p_ratio_agree_with_acro(tmp_path):
    df = _synthetic()
    acro = _acro(df, tmp_path, row="region", col="sector", values="wage", aggfunc="sum")
    spec = TableSpec.flat(["region", "sector"], margins=False)
    ours = apply_rules(add_zero_cells(cell_stats(df, spec, value="wage"), spec), RuleParams(),
                       magnitude=True)
    for ours_col, acro_rule in [("small", "MinimumThresholdCheck"),
                                ("rule_nk", "NKCheck"), ("rule_p_percent", "PPercentCheck")]:
        assert _ours(ours, ours_col) == _flags(acro, acro_rule), acro_rule
    assert _flags(acro, "NKCheck")  # the planted cells really are flagged by both


def test_count_threshold_and_zeros_agree_with_acro(tmp_path):
    df = _synthetic(seed=12, n=1500)
    acro = _acro(df, tmp_path, row="region", col="sector")
    spec = TableSpec.flat(["region", "sector"], margins=False)
    ours = apply_rules(add_zero_cells(cell_stats(df, spec), spec), RuleParams(), magnitude=False)
    assert ours["rule_zero"].any()
    for col, rule in [("small", "MinimumThresholdCheck"), ("rule_zero", "PresenceOfZeroCheck")]:
        assert _ours(ours, col) == _flags(acro, rule), rule


def _ours(cells: pd.DataFrame, col: str) -> set[tuple[str, str]]:
    """Our flagged cells; ACRO's threshold (count < 10) also covers empty cells."""
    flag = cells["rule_threshold"] | cells["rule_zero"] if col == "small" else cells[col]
    return set(map(tuple, cells.loc[flag, ["region", "sector"]].to_numpy()))
