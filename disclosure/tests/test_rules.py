"""Table rules: units not rows, ACRO operators, weights, zeros, negatives, hierarchies."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from disclosure.rules import RuleParams, TableSpec, add_zero_cells, apply_rules, cell_stats


def _check(df, dims, value=None, unit=None, weight=None, params=None, zeros=()):
    spec = TableSpec.flat(dims, margins=False)
    stats = cell_stats(df, spec, value=value, unit=unit, weight=weight)
    cells = add_zero_cells(stats, spec, zeros)
    return apply_rules(cells, params or RuleParams(), value is not None)


def test_threshold_counts_distinct_units_not_rows():
    df = pd.DataFrame({"g": ["a"] * 12, "unit": [1, 2, 3] * 4, "v": 1.0})
    rows = _check(df, ["g"])
    units = _check(df, ["g"], unit="unit")
    assert rows.loc[0, "status"] == "pass"
    assert units.loc[0, "n_units"] == 3 and units.loc[0, "failed_rules"] == "threshold"


def test_nk_dominance_uses_per_unit_totals():
    # unit 1 reports three rows of 330: by rows the top-2 share is 660/1100 = 0.6, by units
    # it is (990 + 10)/1100 = 0.909 ≥ 0.9
    df = pd.DataFrame({"g": "a", "unit": [1, 1, 1, *range(2, 13)],
                       "v": [330.0] * 3 + [10.0] * 11})
    assert not _check(df, ["g"], value="v").loc[0, "rule_nk"]
    assert _check(df, ["g"], value="v", unit="unit").loc[0, "rule_nk"]


def test_nk_boundary_is_inclusive_like_acro():
    df = pd.DataFrame({"g": ["a"] * 11, "v": [45.0, 45.0] + [1.0] * 9 + [0.0] * 0})
    df.loc[len(df)] = ["a", 1.0]
    out = _check(df, ["g"], value="v")  # total 100, top-2 90 → share exactly 0.9
    assert out.loc[0, "rule_nk"]


def test_p_percent_rule_flags_when_remainder_is_below_p_of_largest():
    vals = [1000.0, 100.0] + [9.0] * 10  # rest 90 < 0.1·1000
    df = pd.DataFrame({"g": "a", "v": vals})
    params = RuleParams(nk_k=0.99)
    out = _check(df, ["g"], value="v", params=params)
    assert out.loc[0, "rule_p_percent"] and not out.loc[0, "rule_nk"]


def test_pq_rule_uses_p_over_q():
    vals = [1000.0, 100.0] + [30.0] * 10  # rest 300: 0.3 ratio
    df = pd.DataFrame({"g": "a", "v": vals})
    strict = RuleParams(nk_k=0.99, p_percent=None, pq=(40, 100))
    loose = RuleParams(nk_k=0.99, p_percent=None, pq=(20, 100))
    assert _check(df, ["g"], value="v", params=strict).loc[0, "rule_pq"]
    assert not _check(df, ["g"], value="v", params=loose).loc[0, "rule_pq"]


def test_zero_cells_fail_unless_structural():
    df = pd.DataFrame({"a": ["x"] * 10 + ["y"] * 10, "b": ["p"] * 10 + ["q"] * 10})
    out = _check(df, ["a", "b"], zeros=[{"a": "x", "b": "q"}])
    zero = out[out["n_units"] == 0].set_index(["a", "b"])["status"].to_dict()
    assert zero == {("x", "q"): "pass", ("y", "p"): "fail"}


def test_negative_contributions_make_dominance_review():
    df = pd.DataFrame({"g": "a", "v": [-5.0] + [10.0] * 11})
    out = _check(df, ["g"], value="v")
    assert out.loc[0, "status"] == "review" and out.loc[0, "failed_rules"] == "negative"


def test_weights_scale_estimates_but_not_contributor_counts():
    df = pd.DataFrame({"g": "a", "unit": range(5), "v": 2.0, "w": 10.0})
    out = _check(df, ["g"], value="v", unit="unit", weight="w")
    assert out.loc[0, "total"] == pytest.approx(100.0)
    assert out.loc[0, "n_units"] == 5 and out.loc[0, "rule_threshold"]


def test_weighted_dominance_is_judged_on_respondents_own_values_too():
    # respondent 0 reported 1000 but carries a tiny weight: the weighted estimate is not
    # dominated (top-2 share 200/910), the respondents' own values are (1010/1090 ≥ 0.9)
    df = pd.DataFrame({"g": "a", "unit": range(10), "v": [1000.0] + [10.0] * 9,
                       "w": [0.01] + [10.0] * 9})
    out = _check(df, ["g"], value="v", unit="unit", weight="w")
    assert out.loc[0, "total"] == pytest.approx(910.0)
    assert out.loc[0, "total_unweighted"] == pytest.approx(1090.0)
    assert out.loc[0, "n_units"] == 10 and not out.loc[0, "rule_threshold"]
    assert out.loc[0, "rule_nk"] and out.loc[0, "status"] == "fail"
    # the other way round: equal values, one huge weight dominates the weighted estimate
    big = df.assign(v=10.0, w=[1000.0] + [1.0] * 9)
    assert _check(big, ["g"], value="v", unit="unit", weight="w").loc[0, "rule_nk"]
    # neither dominated: passes (the rule is not simply stricter everywhere)
    even = df.assign(v=10.0, w=5.0)
    assert _check(even, ["g"], value="v", unit="unit", weight="w").loc[0, "status"] == "pass"


def test_hierarchy_and_margins_get_parent_codes():
    df = pd.DataFrame({"mun": ["a1", "a2", "b1"] * 10, "prov": ["a", "a", "b"] * 10})
    spec = TableSpec(dims={"geo": ["mun", "prov"]})
    stats = cell_stats(df, spec).set_index("geo")
    assert stats.loc["a1", "geo__parent"] == "a" and stats.loc["a", "geo__parent"] == "Total"
    assert stats.loc["Total", "n_units"] == 30 and stats.loc["a", "n_units"] == 20


def test_duckdb_relation_arrow_and_sql_inputs_agree():
    df = pd.DataFrame({"g": list("aab") * 5, "v": np.arange(15.0)})
    spec = TableSpec.flat(["g"])
    con = duckdb.connect()
    con.register("t", df)
    ref = cell_stats(df, spec, value="v")["total"].tolist()
    assert cell_stats(con.sql("select * from t"), spec, value="v")["total"].tolist() == ref
    import pyarrow as pa
    assert cell_stats(pa.Table.from_pandas(df), spec, value="v")["total"].tolist() == ref
