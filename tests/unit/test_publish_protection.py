"""Disclosure control of publication cells, on hand-made tables (no warehouse needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from disclosure.protect import audit
from disclosure.rules import RuleParams
from sdwh.config import PROJECT_DIR
from sdwh.publish.cells import is_provisional, mark_revisions
from sdwh.publish.indicators import indicator
from sdwh.publish.protection import (
    Block,
    GeoParents,
    _cell_groups,
    build_joint_problem,
    protect_cells,
)
from sdwh.publish.validate import check_jsonstat

GEO = GeoParents.from_seeds(PROJECT_DIR / "seeds")
PARAMS = RuleParams()


def nwwz_cells(small: int = 4) -> pd.DataFrame:
    """One quarter: total and a sex breakdown; women's NWWZ is below the threshold."""
    rows = [("total", "total", 40 + small, 400), ("sex", "F", small, 200),
            ("sex", "M", 40, 200), ("age_band", "18-39", 20 + small, 200),
            ("age_band", "40-64", 20, 200)]
    frame = pd.DataFrame(rows, columns=["breakdown", "category", "numerator", "denominator"])
    frame["quarter"] = "2025Q4"
    frame["n_persons_numerator"] = frame["numerator"]
    frame["n_persons_denominator"] = frame["denominator"]
    return frame


def test_small_cell_is_suppressed_with_a_partner_and_the_pattern_passes_the_exact_audit():
    cells = nwwz_cells()
    out = protect_cells([Block(indicator("nwwz"), cells)], GEO, PARAMS)
    mask = out.suppressed["nwwz"]
    assert mask[1] and out.primary["nwwz"][1]  # F: 4 < 10
    assert mask[2]  # M must go too, or F = total − M
    assert not mask[0]  # the total stays: F + M = total leaves F anywhere in [0, 44]
    # independent check: the disclosure library's exact LP audit on the same pattern
    problem, index = build_joint_problem([Block(indicator("nwwz"), cells)], GEO, PARAMS)
    whole = mask[index["cell"].to_numpy()]
    assert audit(problem, whole).ok


def test_a_pattern_without_secondary_suppression_fails_the_exact_audit():
    """The audit can fail: publishing everything but the small cell gives it away."""
    cells = nwwz_cells()
    problem, index = build_joint_problem([Block(indicator("nwwz"), cells)], GEO, PARAMS)
    only_primary = _cell_groups(index) == 1  # cell 1 (women) in every count table
    assert not audit(problem, only_primary).ok


def test_no_cell_passes_with_a_complement_below_the_threshold():
    """Everyone in a group being NWWZ is a disclosure too: labour force − NWWZ = 3."""
    cells = nwwz_cells(small=20)
    cells.loc[cells["category"] == "F", "denominator"] = 23
    cells.loc[cells["category"] == "total", "denominator"] = 223
    cells.loc[cells["category"] == "18-39", "denominator"] = 23
    cells.loc[cells["category"] == "40-64", "denominator"] = 200
    cells["n_persons_denominator"] = cells["denominator"]
    out = protect_cells([Block(indicator("nwwz"), cells)], GEO, PARAMS)
    assert out.suppressed["nwwz"][1] and "WORKING:threshold" in out.rules["nwwz"][1]


def test_cells_that_do_not_add_up_are_refused():
    cells = nwwz_cells()
    cells.loc[0, "numerator"] += 1
    cells["n_persons_numerator"] = cells["numerator"]
    with pytest.raises(Exception, match="do not add up"):
        protect_cells([Block(indicator("nwwz"), cells)], GEO, PARAMS)


def test_the_last_four_quarters_of_a_release_are_provisional():
    assert is_provisional("2025Q1", "2025Q4") and not is_provisional("2024Q4", "2025Q4")


def test_a_changed_value_and_a_newly_suppressed_cell_are_revisions():
    keys = ["quarter", "category"]
    prev = pd.DataFrame({"quarter": ["2025Q1"] * 3, "category": ["a", "b", "c"],
                         "measure": "X", "value": [10.0, 20.0, 30.0],
                         "suppressed": [False, False, False]})
    cur = prev.copy()
    cur.loc[0, "value"] = 11.0
    cur.loc[1, ["value", "suppressed"]] = [np.nan, True]
    new = pd.DataFrame({"quarter": ["2025Q2"], "category": ["a"], "measure": "X",
                        "value": [5.0], "suppressed": [False]})
    flagged, changes = mark_revisions(pd.concat([cur, new], ignore_index=True), prev, keys)
    assert flagged["revised"].tolist() == [True, True, False, False]
    assert [c["kind"] for c in changes] == ["value", "now_suppressed"]


def test_jsonstat_check_rejects_a_value_array_that_does_not_fill_the_cube():
    doc = {"version": "2.0", "class": "dataset", "id": ["a", "b"], "size": [2, 2],
           "dimension": {"a": {"category": {"index": ["x", "y"]}},
                         "b": {"category": {"index": ["u", "v"]}}},
           "value": [1, 2, 3]}
    assert any("entries" in p for p in check_jsonstat(doc))
    doc["value"] = {"3": 1.0}
    assert check_jsonstat(doc) == []
    doc["value"] = {"4": 1.0}
    assert check_jsonstat(doc)
