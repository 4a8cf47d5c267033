"""The sqlglot portability check flags what REPORT.md §4.4 found breaking on Spark and Trino."""

from __future__ import annotations

from pathlib import Path

from sdwh.warehouse import portability

ALLOWED = set(portability.PORTABLE_FUNCTIONS)


def problems(sql: str, engine: str = "duckdb", allowed: set[str] = ALLOWED) -> list[str]:
    return [p.message for p in portability.check_compiled("m", sql, engine, allowed)]


def test_portable_sql_passes() -> None:
    sql = ("select person_id, count(*) as n, max(coalesce(x, 0)) as m, "
           "row_number() over (partition by person_id order by q) as r, "
           "concat(substr(q, 1, 4), 'Q') as y, extract(year from d) as e "
           "from t where q in (select q from u) group by person_id, q, d, x")
    assert problems(sql) == []


def test_duckdb_age_and_date_diff_are_flagged() -> None:
    assert any("age()" in p for p in problems("select age(d1, d2) from t"))
    assert any("datediff()" in p for p in problems("select date_diff('year', d1, d2) from t"))


def test_quantile_and_list_functions_are_flagged_unless_dispatched() -> None:
    assert any("percentile_cont()" in p for p in problems("select quantile_cont(x, 0.9) from t"))
    sql = "select coalesce(list_sum(max(x, 2)), 0) from t"
    assert any("list_sum()" in p for p in problems(sql))
    assert problems(sql, allowed=ALLOWED | {"list_sum"}) == []


def test_unparsable_sql_is_reported() -> None:
    assert any("does not parse" in p for p in problems("select from where ("))


def test_dispatched_implementations_are_collected_per_engine(tmp_path: Path) -> None:
    macros = tmp_path / "m.sql"
    macros.write_text("{% macro f(x) %}{{ return(adapter.dispatch('f', 'sdwh')(x)) }}"
                      "{% endmacro %}\n"
                      "{% macro duckdb__f(x) %}list_sum({{ x }}){% endmacro %}\n"
                      "{% macro spark__f(x) %}aggregate({{ x }}){% endmacro %}\n"
                      "{% macro default__f(x) %}reduce({{ x }}){% endmacro %}\n")
    assert {"list_sum", "reduce"} <= portability.dispatched_functions([macros], "duckdb")
    assert "aggregate" not in portability.dispatched_functions([macros], "duckdb")
    assert "aggregate" in portability.dispatched_functions([macros], "spark")


def test_direct_calls_in_model_text_must_be_portable() -> None:
    text = ("select {{ age_in_years('b', 'r') }} as age, date_diff('month', a, b) as d, "
            "count(*) over (partition by p) as n from {{ ref('x') }} where q in (select 1)")
    assert [p.message.split("()")[0] for p in portability.check_written("m", text)] == [
        "calls date_diff"]
