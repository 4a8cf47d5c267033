"""Product sources are rendered per quarter: placeholders become checked quarter literals."""

from __future__ import annotations

import pytest

from sdwh.errors import SdwhError
from sdwh.query.cubes import _product_select, previous_quarter, render_source
from sdwh.query.products import load_catalogue, parse_catalogue


@pytest.mark.parametrize(("quarter", "before"), [("2025Q1", "2024Q4"), ("2025Q2", "2025Q1"),
                                                 ("2021Q4", "2021Q3")])
def test_previous_quarter_crosses_year_ends(quarter: str, before: str) -> None:
    assert previous_quarter(quarter) == before


def test_transitions_source_reads_the_quarter_and_the_one_before_only() -> None:
    product = load_catalogue().product("transitions")
    sql = render_source(product, "2025Q1", "2021Q1")
    assert "c.quarter = '2025Q1' and p.quarter = '2024Q4'" in sql
    assert "{" not in sql


def test_every_source_with_placeholders_is_rendered_completely() -> None:
    for product in load_catalogue().products:
        sql = _product_select(product, "2024Q3", "2024Q1")
        assert "{quarter}" not in sql and "{previous_quarter}" not in sql
        assert "{first_quarter}" not in sql
        assert sql.endswith(tuple("0123456789"))  # ... ORDER BY 1, 2, …


def test_a_quarter_that_is_not_yyyyqn_never_reaches_sql() -> None:
    product = load_catalogue().product("nwwz")
    with pytest.raises(SdwhError, match="not YYYYQn"):
        _product_select(product, "2025Q1' OR 1=1 --", "2024Q1")
    with pytest.raises(SdwhError, match="not YYYYQn"):
        render_source(product, "2025Q1", "x'; DROP")


def test_a_source_with_placeholders_must_be_built_by_quarter() -> None:
    raw = {"products": [{
        "id": "p", "title": "P", "description": "d", "source_model": "m",
        "source": "select person_id, quarter from t where quarter = {quarter}",
        "by_quarter": False,
        "dimensions": [{"id": "quarter", "title": "Q", "levels": [
            {"id": "quarter", "title": "Q", "expr": "quarter", "codelist": "quarter"}]}],
        "measures": [{"id": "persons", "title": "P", "condition": "true", "definition": "d"}],
    }], "codelists": {"quarter": {"from_data": True}}}
    with pytest.raises(SdwhError, match="by_quarter"):
        parse_catalogue(raw)


def test_a_table_is_read_without_aggregating_only_at_its_own_grain() -> None:
    from sdwh.query.tablebuilder import _axis, at_grain

    product = load_catalogue().product("labour_market_position")
    held = frozenset({"quarter", "geo"})
    quarter, municipality = _axis(product, "quarter"), _axis(product, "geo:municipality")
    province = _axis(product, "geo:province")
    assert at_grain(product, [quarter, municipality], [(province, ("10000",))], False, held)
    assert not at_grain(product, [quarter, municipality], [], True, held)  # totals
    assert not at_grain(product, [quarter, province], [], False, held)  # coarser level
    assert not at_grain(product, [quarter], [(municipality, ("11002",))], False, held)
    assert not at_grain(product, [quarter, municipality], [], False,
                        frozenset({"quarter", "geo", "sex"}))
