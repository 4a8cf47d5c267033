"""Guarded SQL: a corpus of hostile queries is refused with the rule it broke (first wall), and
the locked read-only connection refuses the same attacks on its own (second wall)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdwh.errors import SdwhError
from sdwh.query.sqlguard import SqlRefused, check_sql
from sdwh.query.sqlrun import open_published, run_checked, sql_catalogue

CATALOGUE = {
    "employment_by_municipality": {"quarter": "VARCHAR", "geo": "VARCHAR", "persons": "BIGINT",
                                   "persons_flag": "VARCHAR", "working": "BIGINT"},
    "nwwz_flows": {"quarter": "VARCHAR", "geo": "VARCHAR", "stock": "BIGINT"},
}

HOSTILE = {
    # file reads and table functions
    "read_csv": ("SELECT * FROM read_csv('/etc/passwd')", "table_function"),
    "read_csv_auto": ("select * from read_csv_auto('/etc/shadow')", "table_function"),
    "read_parquet": ("SELECT * FROM read_parquet('/srv/raw/*.parquet')", "table_function"),
    "read_json": ("SELECT * FROM read_json('x.json')", "table_function"),
    "glob": ("SELECT * FROM glob('/**')", "table_function"),
    "file_as_table": ("SELECT * FROM '/etc/passwd'", "unknown_table"),
    "parquet_as_table": ('SELECT * FROM "raw/rsz.parquet"', "unknown_table"),
    "read_text_scalar": ("SELECT read_text('/etc/passwd')", "function"),
    "read_blob_in_subquery": ("SELECT geo FROM employment_by_municipality WHERE geo IN "
                              "(SELECT content FROM read_blob('/etc/hosts'))", "table_function"),
    "range": ("SELECT * FROM range(1000000000)", "table_function"),
    "generate_series": ("SELECT * FROM generate_series(1, 10)", "table_function"),
    "duckdb_settings": ("SELECT * FROM duckdb_settings()", "table_function"),
    "values_table": ("SELECT * FROM (VALUES (1)) AS v(x)", "construct"),
    "getenv": ("SELECT getenv('HOME')", "function"),
    "current_setting": ("SELECT current_setting('enable_external_access')", "function"),
    # statements other than SELECT
    "attach": ("ATTACH '/srv/sdwh/warehouse/sdwh.duckdb' AS wh", "not_select"),
    "attach_lower": ("attach 'x.db' as y (read_only)", "not_select"),
    "detach": ("DETACH published", None),
    "copy_to": ("COPY employment_by_municipality TO '/tmp/out.csv'", "not_select"),
    "copy_query_to": ("COPY (SELECT * FROM employment_by_municipality) TO '/tmp/x.parquet'",
                      "not_select"),
    "export": ("EXPORT DATABASE '/tmp/dump'", None),
    "pragma": ("PRAGMA database_list", "not_select"),
    "install": ("INSTALL httpfs", "not_select"),
    "load": ("LOAD httpfs", "not_select"),
    "set": ("SET enable_external_access = true", "not_select"),
    "reset": ("RESET lock_configuration", None),
    "call": ("CALL pragma_version()", "not_select"),
    "create": ("CREATE TABLE x AS SELECT 1", "not_select"),
    "insert": ("INSERT INTO nwwz_flows VALUES ('a', 'b', 1)", "not_select"),
    "update": ("UPDATE employment_by_municipality SET persons = 0", "not_select"),
    "delete": ("DELETE FROM nwwz_flows", "not_select"),
    "drop": ("DROP TABLE nwwz_flows", "not_select"),
    "describe": ("DESCRIBE employment_by_municipality", "not_select"),
    "checkpoint": ("CHECKPOINT", "not_select"),
    # several statements, also hidden by comments
    "two_statements": ("SELECT 1; SELECT 2", "multiple_statements"),
    "drop_after_select": ("SELECT * FROM nwwz_flows; DROP TABLE nwwz_flows",
                          "multiple_statements"),
    "line_comment_hides_newline": ("SELECT 1 -- harmless\n; ATTACH 'x' AS y",
                                   "multiple_statements"),
    "block_comment_semicolon": ("SELECT 1 /* ; */ ; PRAGMA version", "multiple_statements"),
    "empty_statements": ("SELECT 1;;SELECT 2", "multiple_statements"),
    # unicode tricks
    "fullwidth_select": ("ＳＥＬＥＣＴ * FROM nwwz_flows", "characters"),
    "fullwidth_semicolon": ("SELECT 1； ATTACH 'x' AS y", "characters"),
    "zero_width_space": ("SELECT *\u200b FROM nwwz_flows", "characters"),
    "bidi_override_in_literal": ("SELECT * FROM nwwz_flows WHERE geo = '11002\u202e'",
                                 "characters"),
    "cyrillic_table_name": ("SELECT * FROM nwwz_flоws", "characters"),  # Cyrillic 'о'
    "nul_byte": ("SELECT 1\x00; ATTACH 'x' AS y", "characters"),
    # huge joins and other resource attacks
    "cross_join": ("SELECT count(*) FROM employment_by_municipality a CROSS JOIN "
                   "employment_by_municipality b", "join"),
    "comma_join": ("SELECT count(*) FROM employment_by_municipality a, "
                   "employment_by_municipality b, employment_by_municipality c", "join"),
    "join_on_true": ("SELECT count(*) FROM employment_by_municipality a JOIN nwwz_flows b "
                     "ON true", "join"),
    "join_on_constant": ("SELECT count(*) FROM employment_by_municipality a JOIN nwwz_flows b "
                         "ON 1 = 1", "join"),
    "natural_join": ("SELECT * FROM employment_by_municipality NATURAL JOIN nwwz_flows", "join"),
    "positional_join": ("SELECT * FROM employment_by_municipality POSITIONAL JOIN nwwz_flows",
                        "join"),
    "many_tables": ("SELECT 1 FROM nwwz_flows a JOIN nwwz_flows b USING (quarter) JOIN "
                    "nwwz_flows c USING (quarter) JOIN nwwz_flows d USING (quarter) "
                    "JOIN nwwz_flows e USING (quarter)", "too_many_tables"),
    "recursive_cte": ("WITH RECURSIVE r AS (SELECT 1 AS x UNION ALL SELECT x + 1 FROM r) "
                      "SELECT * FROM r", "recursive_cte"),
    "sample": ("SELECT * FROM nwwz_flows USING SAMPLE 10", "construct"),
    # outside the catalogue
    "unknown_table": ("SELECT * FROM cube_labour_market_position", "unknown_table"),
    "warehouse_schema": ("SELECT * FROM wh.thematic.thm_labour_market_panel", "schema"),
    "information_schema": ("SELECT * FROM information_schema.tables", "schema"),
    "system_catalog": ("SELECT * FROM duckdb_tables", "unknown_table"),
    "unknown_column": ("SELECT person_id FROM employment_by_municipality", "unknown_column"),
    "empty": ("   ", "empty"),
    "too_long": ("SELECT 1" + " " * 20_000, "length"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_query_is_refused_with_its_rule(name: str) -> None:
    query, rule = HOSTILE[name]
    with pytest.raises(SqlRefused) as refused:
        check_sql(query, CATALOGUE)
    assert refused.value.message.endswith(".")
    assert refused.value.hint
    if rule is not None:
        assert refused.value.rule == rule, refused.value.message


ADMITTED = [
    "SELECT quarter, sum(persons) AS p FROM employment_by_municipality GROUP BY quarter "
    "ORDER BY p DESC LIMIT 5",
    "select * from employment_by_municipality where geo like '11%' and persons_flag = ''",
    "SELECT e.quarter, e.geo, n.stock FROM employment_by_municipality e "
    "JOIN nwwz_flows n ON e.quarter = n.quarter AND e.geo = n.geo",
    "WITH x AS (SELECT geo, persons FROM employment_by_municipality WHERE quarter = '2025Q1') "
    "SELECT * FROM x WHERE persons > 100",
    "SELECT geo, round(100.0 * working / persons, 1) AS rate FROM employment_by_municipality",
    "SELECT 'Sint-Genesius-Rode é' AS s, count(*) FROM nwwz_flows -- a comment",
    "SELECT quarter FROM nwwz_flows UNION SELECT quarter FROM employment_by_municipality",
    "SELECT CASE WHEN persons IS NULL THEN 'withheld' ELSE 'published' END AS s, count(*) "
    "FROM employment_by_municipality GROUP BY 1",
]


@pytest.mark.parametrize("query", ADMITTED)
def test_plain_selects_over_the_catalogue_are_admitted(query: str) -> None:
    sql = check_sql(query, CATALOGUE)
    assert "--" not in sql and "/*" not in sql  # regenerated from the tree, comments dropped


@pytest.fixture
def published(tmp_path: Path) -> Path:
    path = tmp_path / "published.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE employment_by_municipality AS SELECT '2025Q1' AS quarter, "
                "CAST(i AS VARCHAR) AS geo, 100 + i AS persons, '' AS persons_flag, i AS working "
                "FROM range(2000) t(i)")
    con.close()
    (tmp_path / "secret.csv").write_text("a,b\n1,2\n")
    return path


def test_second_wall_refuses_what_the_guard_would_have_refused(published: Path) -> None:
    con = open_published(published)
    outside = published.parent / "secret.csv"
    attacks = [f"SELECT * FROM read_csv('{outside}')", f"ATTACH '{outside}.db' AS x",
               f"COPY employment_by_municipality TO '{published.parent}/out.csv'",
               "SET enable_external_access = true", "SET lock_configuration = false",
               "INSTALL httpfs", "LOAD httpfs", "CREATE TABLE t AS SELECT 1",
               "DROP TABLE employment_by_municipality"]
    for sql in attacks:
        with pytest.raises(duckdb.Error):
            con.execute(sql).fetchall()
    assert not (published.parent / "out.csv").exists()
    assert con.execute("SELECT count(*) FROM employment_by_municipality").fetchone() == (2000,)
    assert set(sql_catalogue(con)) == {"employment_by_municipality"}


def test_huge_cross_join_is_stopped_by_the_timeout_even_past_the_guard(published: Path) -> None:
    con = open_published(published)
    sql = ("SELECT count(*) FROM employment_by_municipality a, employment_by_municipality b, "
           "employment_by_municipality c, employment_by_municipality d")
    with pytest.raises(SdwhError, match=r"longer than 0\.5 s"):
        run_checked(con, sql, max_rows=10, timeout=0.5)


def test_row_limit_cuts_long_answers(published: Path) -> None:
    con = open_published(published)
    answer = run_checked(con, check_sql("SELECT geo FROM employment_by_municipality",
                                        sql_catalogue(con)), max_rows=100, timeout=5)
    assert len(answer.rows) == 100 and answer.truncated


SQLISH = st.lists(st.sampled_from([
    "SELECT", "FROM", "WHERE", "GROUP BY", "ORDER BY", "JOIN", "ON", "UNION", "WITH", "AS",
    "(", ")", ",", ";", "*", "=", "--", "/*", "*/", "'", "\"", "quarter", "geo", "persons",
    "employment_by_municipality", "nwwz_flows", "read_csv('x')", "ATTACH", "1", "count(*)",
    "\u200b", "é", "\n"]), max_size=25).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(query=st.one_of(SQLISH, st.text(max_size=200)))
def test_guard_never_crashes_and_admits_only_rechecked_selects(query: str) -> None:
    try:
        sql = check_sql(query, CATALOGUE)
    except SqlRefused:
        return
    assert check_sql(sql, CATALOGUE) == sql  # what runs passes the guard itself
