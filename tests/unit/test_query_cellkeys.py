"""Cell key perturbation in the table builder: consistent however a cell is asked, thresholds
hold, and it agrees with disclosure.cellkey (property tests on random microdata)."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from disclosure.cellkey import record_keys
from sdwh.errors import SdwhError
from sdwh.query.cellkeys import (
    MODULUS,
    SUPPRESSED,
    cell_key,
    hmac_pads,
    protect_counts,
    ptable,
    ratio,
    ratio_columns,
    record_key_int,
    record_key_sql,
)
from sdwh.query.cubes import _build_cube, _product_select, _product_sql, _rollup_sql
from sdwh.query.products import parse_catalogue
from sdwh.query.tablebuilder import TOTAL, TableRequest, build_table, cube_navigator

SECRET = bytes.fromhex("5a" * 32)
THRESHOLD = 3
CATALOGUE = parse_catalogue({
    "version": 1,
    "disclosure": {"threshold": THRESHOLD, "ptable": {"D": 2, "V": 1.0}},
    "dimensions": {},
    "products": [{
        "id": "toy", "title": "Toy", "description": "Random persons.", "source_model": "micro",
        "source": "select * from micro",
        "dimensions": [
            {"id": "quarter", "title": "Quarter",
             "levels": [{"id": "quarter", "title": "Q", "expr": "quarter", "codelist": "plain"}]},
            {"id": "sex", "title": "Sex",
             "levels": [{"id": "sex", "title": "Sex", "expr": "sex", "codelist": "plain"}]},
            {"id": "geo", "title": "Place", "levels": [
                {"id": "municipality", "title": "M", "expr": "muni", "codelist": "plain"},
                {"id": "province", "title": "P", "expr": "left(muni, 1) || '0000'",
                 "codelist": "plain"}]},
        ],
        "measures": [
            {"id": "persons", "title": "Persons", "condition": "true", "definition": "All."},
            {"id": "working", "title": "Working", "condition": "working", "definition": "W."}],
        "rollups": [["quarter", "sex"], ["quarter", "geo"]],
    }],
    "codelists": {"plain": {"from_data": True}},
})

people = st.lists(
    st.tuples(st.sampled_from(["2024Q1", "2024Q2"]), st.sampled_from(["M", "F"]),
              st.sampled_from(["11001", "11002", "12005", "21004", "23001"]), st.booleans()),
    min_size=1, max_size=120)


def _cube(rows: list[tuple[str, str, str, bool]], shuffle_seed: int = 0) -> tuple[
        duckdb.DuckDBPyConnection, pd.DataFrame]:
    micro = pd.DataFrame(rows, columns=["quarter", "sex", "muni", "working"])
    micro["person_id"] = [f"p{i}" for i in range(len(micro))]  # one row per person × quarter
    micro = micro.sample(frac=1.0, random_state=shuffle_seed).reset_index(drop=True)
    con = duckdb.connect()
    con.register("micro", micro)
    con.register("keys", pd.DataFrame({
        "person_id": micro["person_id"],
        "rk": [record_key_int(p, SECRET) for p in micro["person_id"]]}))
    con.execute("CREATE TEMP TABLE person_keys AS SELECT * FROM keys")
    product = CATALOGUE.product("toy")
    con.execute(_product_sql(product))
    for i, dims in enumerate(product.rollups):
        con.execute(_rollup_sql(product, i, dims))
    return con, micro


def _cell(con: duckdb.DuckDBPyConnection, rollups: bool = True, **req: object) -> dict:
    nav = cube_navigator(con, CATALOGUE) if rollups else None
    result = build_table(con, CATALOGUE, TableRequest(product="toy", **req), navigator=nav)
    return {tuple(r[a.dim] for a in result.axes): r for r in result.records}


def test_sql_record_keys_equal_python_and_disclosure_library() -> None:
    ids = [f"person-{i}" for i in range(50)] + ["é", ""]
    ipad, opad = hmac_pads(SECRET)
    sql_keys = [r[0] for r in duckdb.execute(
        f"SELECT {record_key_sql('id')} FROM (SELECT unnest($ids) AS id, generate_subscripts("
        "$ids, 1) AS i) ORDER BY i", {"ipad": ipad, "opad": opad, "ids": ids}).fetchall()]
    py_keys = [record_key_int(i, SECRET) for i in ids]
    assert sql_keys == py_keys
    assert np.allclose(np.array(py_keys) / MODULUS, record_keys(ids, SECRET), atol=1e-15)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=people, seed=st.integers(0, 1000))
def test_same_cell_gets_same_noise_however_asked(rows: list, seed: int) -> None:
    con, _ = _cube(rows, shuffle_seed=seed)
    direct = _cell(con, dims=("quarter",))
    as_total = _cell(con, dims=("quarter", "sex"), totals=True)
    by_province_total = _cell(con, dims=("quarter", "geo:province"), totals=True)
    by_filter = _cell(con, dims=("quarter",), filters={"sex": ("M", "F")})
    for (q,), rec in direct.items():
        for other in (as_total[(q, TOTAL)], by_province_total[(q, TOTAL)], by_filter[(q,)]):
            assert other["persons"] == rec["persons"]
            assert other["working"] == rec["working"]
    # a province asked at province level equals the same persons asked through a filter
    provinces = _cell(con, dims=("quarter", "geo:province"))
    for (q, prov), rec in provinces.items():
        via_filter = _cell(con, dims=("quarter",), filters={"geo:province": (prov,)})
        empty = {"persons": 0}  # nobody of the province in that quarter: a true zero
        assert via_filter.get((q,), empty)["persons"] == rec["persons"]
    # rollups (the cube summed over left-out dimensions) answer exactly as the full cube
    for req in ({"dims": ("quarter", "sex"), "totals": True},
                {"dims": ("quarter", "geo:province"), "filters": {"geo": ("11001", "21004")}}):
        assert _cell(con, rollups=True, **req) == _cell(con, rollups=False, **req)
    # row order of the microdata does not matter
    con2, _ = _cube(rows, shuffle_seed=seed + 1)
    assert _cell(con2, dims=("quarter", "sex"), totals=True) == as_total


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=people, seed=st.integers(0, 1000))
def test_cube_built_quarter_by_quarter_equals_the_cube_built_at_once(rows: list,
                                                                      seed: int) -> None:
    con, _ = _cube(rows, shuffle_seed=seed)
    product = CATALOGUE.product("toy")
    whole = con.execute(f"SELECT * FROM {product.cube_table} ORDER BY ALL").fetchall()
    con.execute(f"DROP TABLE {product.cube_table}")
    quarters = sorted({r[0] for r in rows})
    steps: list[str] = []
    _build_cube(con, product, quarters, steps.append)
    assert con.execute(f"SELECT * FROM {product.cube_table} ORDER BY ALL").fetchall() == whole
    assert len(steps) == len(quarters)


def test_a_quarter_that_is_not_yyyyqn_never_reaches_the_cube_sql() -> None:
    with pytest.raises(SdwhError, match="not YYYYQn"):
        _product_select(CATALOGUE.product("toy"), "2024Q1' OR true --")


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=people)
def test_threshold_and_noise_bounds_hold(rows: list) -> None:
    con, micro = _cube(rows)
    table = _cell(con, dims=("quarter", "sex", "geo"), totals=True)
    truth = micro.groupby(["quarter", "sex", "muni"]).agg(
        persons=("person_id", "size"), working=("working", "sum"))
    for (q, sex, muni), rec in table.items():
        if TOTAL in (sex, muni):
            sub = micro[(micro.quarter == q) & ((micro.sex == sex) | (sex == TOTAL))
                        & ((micro.muni == muni) | (muni == TOTAL))]
            n = {"persons": len(sub), "working": int(sub.working.sum())}
        elif (q, sex, muni) in truth.index:
            n = truth.loc[(q, sex, muni)].to_dict()
        else:
            n = {"persons": 0, "working": 0}
        for m in ("persons", "working"):
            true = int(n[m])
            if 0 < true < THRESHOLD:
                assert rec[m] is None and rec[f"{m}_flag"] == SUPPRESSED
            elif true == 0:
                assert rec[m] == 0 and rec[f"{m}_flag"] == ""
            else:
                assert rec[m] is not None and abs(rec[m] - true) <= 2 and rec[m] >= 0
                assert rec[f"{m}_flag"] == ""


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(counts=st.lists(st.integers(0, 10_000), min_size=1, max_size=50),
       keys=st.lists(st.integers(0, 2**80), min_size=50, max_size=50))
def test_protect_counts_matches_ptable_lookup(counts: list[int], keys: list[int]) -> None:
    keys = keys[: len(counts)]
    out = protect_counts(counts, keys, threshold=1)
    expected = np.asarray(counts) + ptable(2, 1.0).noise(
        np.asarray(counts), np.array([cell_key(k) for k in keys]))
    assert out.values == [int(v) for v in expected]
    # the table builder's path: key sums already reduced, as an int64 array
    reduced = np.array([k % MODULUS for k in keys], dtype=np.int64)
    assert protect_counts(np.asarray(counts), reduced, threshold=1) == out


@given(pairs=st.lists(st.tuples(st.none() | st.integers(0, 10**7),
                                st.none() | st.integers(-1, 10**7)), max_size=60))
def test_ratio_columns_equal_ratio_cell_by_cell(pairs: list) -> None:
    values, flags = ratio_columns([p[0] for p in pairs], [p[1] for p in pairs])
    assert list(zip(values, flags, strict=True)) == [ratio(x, y) for x, y in pairs]
