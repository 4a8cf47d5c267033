"""sdcMicro 5.8.1 semantics: values from the issue and from sdcMicro's own testthat suite."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from disclosure.microdata import (
    freq_calc,
    global_recode,
    indiv_risk,
    kanon_violations,
    ldiversity,
    local_suppression,
    measure_risk,
    suda2,
)

KEYS = ["Key1", "Key2", "Key3", "Key4"]
RK = [0.0171442615962852, 0.0220423261832562, 0.0220423261832562, 0.177075834003514,
      0.011654480146012, 0.297063077382834, 0.402359478108525, 0.0171442615962852]


def test_francdat_fk_Fk_and_individual_risk_match_sdcmicro(francdat):
    res = measure_risk(francdat, KEYS, weight="w")
    assert res.fk.tolist() == [2, 2, 2, 1, 1, 1, 1, 2]
    assert res.Fk.tolist() == [110, 84.5, 84.5, 17, 541, 8, 5, 110]
    np.testing.assert_allclose(res.risk, RK, rtol=0, atol=1e-12)
    assert res.global_risk_ER == pytest.approx(sum(RK), abs=1e-12)
    assert res.global_risk == pytest.approx(sum(RK) / 8, abs=1e-12)


def test_missing_key_is_a_wildcard_as_in_sdcmicro():
    df = pd.DataFrame({"region": ["A"] * 5,
                       "status": ["single", "married", "married", "single", None],
                       "age": ["5"] * 5})
    assert freq_calc(df, ["region", "status", "age"]).fk.tolist() == [3, 3, 3, 3, 5]


def test_unweighted_risk_is_inverse_frequency(francdat):
    res = measure_risk(francdat, KEYS)
    np.testing.assert_allclose(res.risk, 1 / res.fk)


def test_exact_and_approx_risk_agree_when_fk_at_most_two(francdat):
    f = freq_calc(francdat, KEYS, weight="w")
    np.testing.assert_allclose(indiv_risk(f, "exact"), indiv_risk(f, "approx"))


def test_exact_risk_for_larger_groups_is_below_approx_bound():
    df = pd.DataFrame({"k": ["a"] * 4, "w": [10.0] * 4})
    f = freq_calc(df, ["k"], weight="w")
    approx = indiv_risk(f, "approx")[0]
    exact = indiv_risk(f, "exact")[0]
    assert approx == pytest.approx(0.1 / (4 - 0.9))
    assert 0 < exact < 0.25


def test_household_risk_is_one_minus_product_of_member_safety(francdat):
    df = francdat.assign(hh=[1, 1, 2, 2, 3, 3, 4, 4])
    res = measure_risk(df, KEYS, weight="w", household="hh")
    expected = [1 - (1 - RK[0]) * (1 - RK[1])] * 2
    np.testing.assert_allclose(res.hier_risk[:2], expected)
    assert res.hier_risk_ER == pytest.approx(res.hier_risk.sum())


def test_kanonymity_violation_counts(francdat):
    assert kanon_violations(francdat, KEYS, ks=(2, 3)) == {2: 4, 3: 8}


def test_suda2_book_example_scores():
    tab = pd.DataFrame({
        "age": ["20s"] * 7 + ["60s"],
        "gender": ["male"] * 4 + ["female"] * 3 + ["male"],
        "income": ["50k+", "50k+"] + ["50k-"] * 6,
        "education": ["highschool"] * 4 + ["university", "highschool", "middleschool",
                                           "university"]})
    assert suda2(tab, list(tab.columns)).score[4:].tolist() == [4, 2, 6, 8]


def test_suda2_sdc_guideline_scores():
    t = pd.DataFrame({
        "res": ["U", "U", "U", "U", "R", "U", "U", "U", "U", "U"],
        "sex": ["F", "F", "F", "M", "F", "M", "F", "M", "F", "F"],
        "edu": ["Si", "Si", "Pi", "Sc", "Sc", "Sc", "Pc", "Ps", "Si", "Si"],
        "lab": ["E", "E", "N", "E", "U", "E", "N", "U", "N", "N"]})
    assert suda2(t, list(t.columns)).score.tolist() == [0, 0, 6, 0, 12, 0, 6, 10, 0, 0]


@pytest.mark.parametrize("order", [["a", "b", "c"], ["c", "a", "b"], ["c", "b", "a"]])
def test_suda2_attribute_contributions_follow_the_variables(order):
    d = pd.DataFrame({"a": [2, 1, 1], "b": [0, 3, 0], "c": [0, 6, 0]})[order]
    contrib = suda2(d, order).attribute_contributions
    assert contrib == {"a": 50.0, "b": 37.5, "c": 37.5}


def test_dis_suda_scores_are_probabilities_and_zero_without_msu(testdata):
    keys = ["urbrur", "roof", "walls", "water", "electcon", "relat", "sex"]
    res = suda2(testdata, keys)
    assert ((res.dis_score >= 0) & (res.dis_score <= 1)).all()
    assert (res.dis_score[res.score == 0] == 0).all()
    assert (res.dis_score[res.score > 0] > 0).all()


def test_ldiversity_counts_distinct_entropy_and_recursive():
    df = pd.DataFrame({"k": ["a"] * 6 + ["b"] * 2, "s": [1, 1, 1, 2, 2, 3, 5, 5]})
    out = ldiversity(df, ["k"], ["s"])
    row_a, row_b = out.iloc[0], out.iloc[6]
    assert row_a["s_Distinct_Ldiversity"] == 3
    p = np.array([3, 2, 1]) / 6
    assert row_a["s_Entropy_Ldiversity"] == pytest.approx(np.exp(-(p * np.log(p)).sum()))
    # r1 = 3 < 2·(2 + 1) → l ≥ 2; 3 < 2·1 fails → recursive l = 2
    assert row_a["s_Recursive_Ldiversity"] == 2
    assert row_b["s_Distinct_Ldiversity"] == 1


def test_local_suppression_reaches_k_anonymity(testdata):
    keys = ["urbrur", "roof", "walls", "water", "electcon", "relat", "sex"]
    out, counts = local_suppression(testdata, keys, k=3)
    assert freq_calc(out, keys).fk.min() >= 3
    assert sum(counts.values()) > 0


def test_global_recode_merges_categories_and_lowers_risk(francdat):
    before = kanon_violations(francdat, KEYS, ks=(2,))[2]
    merged = global_recode(francdat, "Key1", mapping={3: 4})
    merged = global_recode(merged, "Key4", mapping={4: 1, 5: 1})
    assert (before, kanon_violations(merged, KEYS, ks=(2,))[2]) == (4, 1)


def test_global_recode_with_breaks_makes_right_closed_intervals():
    df = pd.DataFrame({"age": [1, 10, 11, 30]})
    out = global_recode(df, "age", breaks=[0, 10, 20, 40])
    assert out["age"].tolist() == ["(0, 10]", "(0, 10]", "(10, 20]", "(20, 40]"]
