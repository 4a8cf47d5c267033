"""Which recorded queries the airlock can re-run per cell, and what it reads from them."""

from __future__ import annotations

import pytest

from sdwh.airlock.checks import NotAnalysable, analyse_query

TABLES = {"thm_labour_market_panel": ["person_id", "quarter", "age", "sex_code",
                                      "province_refnis", "is_working"]}


def test_plain_group_by_with_aliases_where_and_aggregates():
    shape = analyse_query(
        "select province_refnis as prov, sex_code, count(*) as n, "
        "count(distinct person_id) as persons, avg(age) as mean_age "
        "from thm_labour_market_panel where quarter = '2025Q4' and age >= 18 group by all",
        TABLES)
    assert shape.source == "thm_labour_market_panel"
    assert shape.dims == [("prov", "province_refnis"), ("sex_code", "sex_code")]
    assert [(m.column, m.func, m.arg) for m in shape.measures] == [
        ("n", "count", None), ("persons", "count_distinct", "person_id"),
        ("mean_age", "avg", "age")]
    assert shape.where == "quarter = '2025Q4' AND age >= 18" and not shape.margins
    assert shape.where_columns == {"quarter", "age"}


def test_cube_gives_margins_and_explicit_group_by_must_match():
    assert analyse_query("select sex_code, province_refnis, count(*) n from "
                         "thm_labour_market_panel group by cube(sex_code, province_refnis)",
                         TABLES).margins
    assert not analyse_query("select sex_code, count(*) n from thm_labour_market_panel "
                             "group by sex_code", TABLES).margins


@pytest.mark.parametrize(("query", "why"), [
    ("select sex_code, count(*) from thm_labour_market_panel p join other o using (person_id) "
     "group by 1", "join"),
    ("with t as (select * from thm_labour_market_panel) select count(*) from t", "single SELECT"),
    ("select count(*) from (select * from thm_labour_market_panel)", "subquery"),
    ("select sex_code, count(*) over () from thm_labour_market_panel", "window"),
    ("select sex_code from thm_labour_market_panel group by 1", "no statistic"),
    ("select sex_code, count(*) from thm_labour_market_panel", "without GROUP BY"),
    ("select sex_code, sum(age * 2) from thm_labour_market_panel group by all", "expression"),
    ("select sex_code, count(*) from thm_labour_market_panel where lower(sex_code) = 'f' "
     "group by all", "plain condition"),
    ("select sex_code, count(*) from thm_labour_market_panel group by all limit 3", "LIMIT"),
    ("select sex_code, province_refnis, count(*) from thm_labour_market_panel "
     "group by rollup(sex_code, province_refnis)", "ROLLUP over several"),
    ("select sex_code, count(*) from secret_table group by all", "one extract table"),
    ("select insz, count(*) from thm_labour_market_panel group by all", "not in"),
    ("select sex_code, count(*) from thm_labour_market_panel group by age", "exactly the"),
    ("select sex_code, count(* from thm_labour_market_panel", "does not parse"),
])
def test_queries_the_checker_cannot_rerun_say_why(query, why):
    with pytest.raises(NotAnalysable, match=why):
        analyse_query(query, TABLES)


@pytest.mark.parametrize(("where", "pinned"), [
    (None, set()),
    ("quarter = '2025Q4'", {"quarter"}),
    ("quarter = '2025Q4' AND age >= 18 AND 'F' = sex_code", {"quarter", "sex_code"}),
    ("(quarter = '2025Q4') AND (age = 30)", {"quarter", "age"}),
    ("quarter = '2025Q4' OR quarter = '2025Q3'", set()),
    ("quarter IN ('2025Q4', '2025Q3')", set()),
    ("quarter = other_column", set()),
])
def test_where_pins_a_column_only_by_equality_to_one_literal_in_every_conjunct(where, pinned):
    from sdwh.airlock.checks import _pinned

    assert _pinned(where) == pinned
