"""Disclosure control of publication cells, on hand-made tables (no warehouse needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from disclosure.protect import CellProblem, audit
from disclosure.rules import RuleParams
from sdwh.config import PROJECT_DIR
from sdwh.publish.cells import is_provisional, mark_revisions
from sdwh.publish.indicators import indicator
from sdwh.publish.linked import linked_exposure
from sdwh.publish.protection import (
    Block,
    GeoParents,
    _cell_groups,
    _widen,
    build_joint_problem,
    close_singletons,
    protect_cells,
    witness_audit,
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


def two_tables(seed: int) -> CellProblem:
    """Two independent 3 × 4 tables with their margins and totals (one problem, two parts)."""
    rng = np.random.default_rng(seed)
    values, rows, cols, vals = [], [], [], []
    relation = 0
    for _ in range(2):
        inner = rng.integers(0, 16, size=(3, 4)).astype(float)
        full = np.zeros((4, 5))  # last row and column: margins
        full[:3, :4] = inner
        full[3, :4] = inner.sum(axis=0)
        full[:3, 4] = inner.sum(axis=1)
        full[3, 4] = inner.sum()
        start = len(values)
        values.extend(full.ravel())
        cell = start + np.arange(20).reshape(4, 5)
        for i in range(4):  # every row adds up to its margin
            rows.extend([relation] * 5)
            cols.extend(cell[i])
            vals.extend([1.0] * 4 + [-1.0])
            relation += 1
        for j in range(5):
            rows.extend([relation] * 4)
            cols.extend(cell[:, j])
            vals.extend([1.0] * 3 + [-1.0])
            relation += 1
    a = np.asarray(values)
    primary = a < 10
    return CellProblem(values=a, A=sparse.csr_matrix((vals, (rows, cols)),
                                                     shape=(relation, len(a))),
                       primary=primary, upper=np.where(primary, np.maximum(10 - a, 1), 0.0),
                       lower=np.zeros(len(a)), cost=a + 1.0)


@pytest.mark.parametrize("seed", range(6))
def test_witnessed_bounds_agree_with_the_exact_audit(seed: int) -> None:
    """Proofs per independent part never claim more than the exact LP, and miss nothing."""
    problem = two_tables(seed)
    rng = np.random.default_rng(100 + seed)
    mask = problem.primary | (rng.random(len(problem.values)) < 0.4)
    hi = witness_audit(problem, mask)
    exact = audit(problem, mask)
    need = problem.values + problem.upper
    targets = problem.primary & mask
    assert (hi[targets] <= exact.hi[targets] + 1e-6).all()  # a witness is a feasible point
    assert ((hi >= need - 1e-6) == (exact.hi >= need - 1e-6))[targets].all()


def test_closing_singletons_leaves_no_relation_with_one_suppressed_member() -> None:
    problem = two_tables(3)
    group = np.arange(len(problem.values)) // 2  # pairs of cells are suppressed together
    start = _widen(problem.primary & (np.arange(len(problem.values)) % 7 == 0), group)
    out = close_singletons(problem.A, start, group, problem.cost)
    assert (out >= start).all() and out.any()
    hidden = abs(problem.A) @ out.astype(float)
    assert not (hidden == 1).any()
    assert (out[::2] == out[1::2]).all()  # whole groups


def education_cells() -> pd.DataFrame:
    """One NWWZ quarter (numbers of the 3,000-person warehouse, 2025Q3): 'unknown' is small.

    Its three count tables order the other education levels differently: the fewest NWWZ
    are 'high' (12), the smallest labour force and the fewest working are 'low' (55, 27).
    """
    rows = [("total", "total", 64, 920), ("sex", "F", 43, 465), ("sex", "M", 21, 455),
            ("education_level", "high", 12, 63), ("education_level", "low", 28, 55),
            ("education_level", "medium", 22, 64), ("education_level", "unknown", 2, 738)]
    frame = pd.DataFrame(rows, columns=["breakdown", "category", "numerator", "denominator"])
    frame["quarter"] = "2025Q3"
    frame["n_persons_numerator"] = frame["numerator"]
    frame["n_persons_denominator"] = frame["denominator"]
    return frame


def test_one_partner_closes_a_small_cell_in_every_count_table() -> None:
    """Regression: closing all lone relations at once suppressed 'low' as well.

    'unknown' (2 NWWZ) is lone in three relations, one per count table; their cheapest
    partners are 'high' (NWWZ) and 'low' (labour force, working). Closed one relation at a
    time, 'high' closes all three; that pattern is proven safe by the exact audit, so the
    extra cell was a pure loss of published information.
    """
    cells = education_cells()
    out = protect_cells([Block(indicator("nwwz"), cells)], GEO, PARAMS)
    suppressed = set(cells.loc[out.suppressed["nwwz"], "category"])
    assert suppressed == {"unknown", "high"}
    problem, index = build_joint_problem([Block(indicator("nwwz"), cells)], GEO, PARAMS)
    assert audit(problem, out.suppressed["nwwz"][index["cell"].to_numpy()]).ok


def close_by_scanning(A: sparse.csr_matrix, suppressed: np.ndarray, group: np.ndarray,
                      cost: np.ndarray) -> np.ndarray:
    """Reference: scan every relation in order, sweep after sweep, until nothing changes."""
    out = suppressed.copy()
    A = A.tocsr().sorted_indices()
    changed = True
    while changed:
        changed = False
        for r in range(A.shape[0]):
            m = A.indices[A.indptr[r]:A.indptr[r + 1]]
            if len(m) > 1 and out[m].sum() == 1:
                open_ = m[~out[m]]
                out[group == group[open_[np.argmin(cost[open_])]]] = True
                changed = True
    return out


@pytest.mark.parametrize("seed", range(8))
def test_singleton_closing_equals_scanning_every_relation(seed: int) -> None:
    """The worklist visits only relations that changed, and finds the same pattern."""
    problem = two_tables(seed)
    rng = np.random.default_rng(seed)
    n = len(problem.values)
    group = rng.permutation(n) // (1 + seed % 3)  # cells of 1 to 3 variables
    cost = rng.integers(1, 5, size=n).astype(float)  # ties: the lowest column joins
    start = _widen(rng.random(n) < 0.1, group)
    out = close_singletons(problem.A, start, group, cost)
    assert (out == close_by_scanning(problem.A, start, group, cost)).all()
    assert not ((abs(problem.A) @ out.astype(float)) == 1).any()


def test_a_table_over_its_time_budget_has_every_cell_suppressed_and_proven() -> None:
    cells = nwwz_cells()
    out = protect_cells([Block(indicator("nwwz"), cells)], GEO, PARAMS, time_budget=1e-9)
    assert out.suppressed["nwwz"].all()
    assert out.record["method"] == "suppress_all" and "time budget" in out.record["fallback"]
    iv = out.record["intervals"]
    assert iv["value"] and all(b is None or b >= v + u - 1e-6 for b, v, u in zip(
        iv["intruder_upper_at_least"], iv["value"], iv["required_upper"], strict=True))
    problem, _ = build_joint_problem([Block(indicator("nwwz"), cells)], GEO, PARAMS)
    assert audit(problem, np.ones(len(problem.values), dtype=bool)).ok
    # a generous budget changes nothing
    assert (protect_cells([Block(indicator("nwwz"), cells)], GEO, PARAMS, time_budget=60)
            .suppressed["nwwz"] == protect_cells([Block(indicator("nwwz"), cells)], GEO,
                                                 PARAMS).suppressed["nwwz"]).all()


def test_nwwz_safe_alone_is_exposed_by_the_employment_rates_region_counts() -> None:
    """Working 18-19 year olds (9) = NWWZ's working total − the region's working 20-24.

    NWWZ alone hides its 15-19 band behind the 20-24 band; the employment rate publishes
    the region's working residents 20-24, which pins the small band down exactly.
    """
    rows = [("total", "total", 38, 147), ("sex", "F", 19, 74), ("sex", "M", 19, 73),
            ("age_band", "15-19", 8, 17), ("age_band", "20-24", 30, 130)]
    cells = pd.DataFrame(rows, columns=["breakdown", "category", "numerator", "denominator"])
    cells["quarter"] = "2025Q4"
    cells["n_persons_numerator"] = cells["numerator"]
    cells["n_persons_denominator"] = cells["denominator"]
    out = protect_cells([Block(indicator("nwwz"), cells)], GEO, PARAMS)
    assert set(cells.loc[out.suppressed["nwwz"], "category"]) == {"15-19", "20-24"}
    region = pd.DataFrame({"sex_code": ["T", "M", "F"] * 2,
                           "age_band": ["20-24"] * 3 + ["15-19"] * 3,
                           "numerator": [100, 50, 50, 30, 14, 16]})
    problem, index = build_joint_problem([Block(indicator("nwwz"), cells)], GEO, PARAMS)
    mask = out.suppressed["nwwz"][index["cell"].to_numpy()]
    published = np.zeros(len(region), dtype=bool)
    reason = linked_exposure(problem, index, cells, mask, region, published, PARAMS)
    assert reason and "WORKING of age_band 15-19 (9)" in reason
    # what the intruder surely knows already proves it (exact LPs)
    assert linked_exposure(problem, index, cells, mask, region, published, PARAMS,
                           hidden_known=False)
    # with the whole NWWZ table suppressed there is nothing to combine
    assert linked_exposure(problem, index, cells, np.ones_like(mask), region, published,
                           PARAMS) is None
