"""Differencing across released outputs: the ACRO leak (report §1.6) and classic attacks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from disclosure.differencing import ReleasedTable, check_new_table, find_disclosures, from_crosstab
from disclosure.tests.acro_leak import acro_crosstab, leak_microdata


def _acro_tables(df):
    a = from_crosstab("A", acro_crosstab(df, "region", "agegrp"), "region", "agegrp",
                      margins_exclude_suppressed=True)
    b = from_crosstab("B", acro_crosstab(df, "region", "sex"), "region", "sex",
                      margins_exclude_suppressed=True)
    return a, b


def test_acro_leak_is_reproduced_by_the_simulated_tables():
    df = leak_microdata()
    ta, tb = acro_crosstab(df, "region", "agegrp"), acro_crosstab(df, "region", "sex")
    assert np.isnan(tb.loc["BRU", "F"]) and np.isnan(ta.loc["BRU", "88+"])
    assert ta.loc["All", "All"] - tb.loc["All", "All"] == 9


def test_acro_leak_suppressed_count_recovered_from_two_tables_is_caught():
    df = leak_microdata()
    a, b = _acro_tables(df)
    found = check_new_table(df, [a], b)
    hit = [f for f in found if f.kind == "suppressed_cell_recovered"
           and f.cell == {"region": "BRU", "sex": "F"}]
    assert hit and hit[0].lo == hit[0].hi == 9 == hit[0].true_value


def test_each_acro_table_alone_does_not_reveal_its_suppressed_count():
    df = leak_microdata()
    _a, b = _acro_tables(df)
    assert not [f for f in find_disclosures(df, [b]) if f.cell == {"region": "BRU", "sex": "F"}]


def test_table_minus_one_record_reveals_that_record():
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"region": rng.choice(["LIM", "ANT"], 400),
                       "sex": rng.choice(["F", "M"], 400), "id": range(400)})
    t1 = pd.crosstab(df.region, df.sex).astype(float)
    sub = df[df.id != 17]
    t2 = pd.crosstab(sub.region, sub.sex).astype(float)
    r1 = from_crosstab("all", t1, "region", "sex")
    r2 = from_crosstab("minus one", t2, "region", "sex", where="id <> 17")
    found = check_new_table(df, [r1], r2)
    assert any(f.kind == "small_group_revealed" and f.true_value == 1 for f in found)


def test_properly_protected_tables_raise_no_finding():
    rng = np.random.default_rng(4)
    df = pd.DataFrame({"a": rng.choice(list("xyz"), 600), "b": rng.choice(list("pq"), 600)})
    t = pd.crosstab(df.a, df.b, margins=True).astype(float)
    assert find_disclosures(df, [from_crosstab("t", t, "a", "b")]) == []


def test_categories_differing_by_one_group_are_caught():
    df = pd.DataFrame({"age": [20] * 50 + [30] * 50 + [40] * 3, "sex": ["F", "M"] * 51 + ["F"]})
    t1 = ReleasedTable(name="<=35", dims=["sex"], where="age <= 35",
                       cells=pd.DataFrame({"sex": ["F", "M"], "value": [50.0, 50.0]}))
    t2 = ReleasedTable(name="<=45", dims=["sex"], where="age <= 45",
                       cells=pd.DataFrame({"sex": ["F", "M"], "value": [52.0, 51.0]}))
    found = check_new_table(df, [t1], t2)
    assert sorted(f.true_value for f in found) == [1.0, 2.0]
