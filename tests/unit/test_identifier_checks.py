"""The numpy identifier rules give exactly the reason codes of their SQL twins."""

import duckdb
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from sdwh.landing.identifier_checks import insz_reasons, kbo_reasons, rsz_employer_reasons
from sdwh.landing.rules import insz_rule, kbo_rule, rsz_employer_rule

digits = st.text(alphabet="0123456789", min_size=8, max_size=12)
near_digits = st.text(alphabet="0123456789 x+-é", min_size=0, max_size=12)


def _insz(yy: int, mm: int, dd: int, serial: int, century: bool, shift: int) -> str:
    body = f"{yy:02d}{mm:02d}{dd:02d}{serial:03d}"
    check = (97 - int(("2" if century else "") + body) % 97 + shift) % 100
    return f"{body}{check:02d}"


# real-looking numbers: months with BIS offsets, check digits mostly right
insz_like = st.builds(_insz, st.integers(0, 99), st.integers(0, 59), st.integers(0, 39),
                      st.integers(0, 999), st.booleans(), st.sampled_from([0, 0, 0, 1]))
kbo_like = st.builds(lambda head, body: f"{head}{body:07d}{97 - (head * 10**7 + body) % 97:02d}",
                     st.integers(0, 2), st.integers(0, 9_999_999))
rsz_like = st.builds(lambda radix: f"{radix:07d}{(96 - radix * 100 % 97) or 97:02d}",
                     st.integers(0, 2_000_000))
values = st.lists(st.one_of(digits, near_digits, insz_like, kbo_like, rsz_like), min_size=1,
                  max_size=60)


_con = duckdb.connect()


def _sql(rule: str, batch: list[str]) -> list[str | None]:
    con = _con.cursor()
    con.register("t", pa.table({"v": pa.array(batch, pa.string())}))
    return [r[0] for r in con.execute(
        f"SELECT CASE WHEN v IS NULL OR trim(v) = '' THEN NULL ELSE {rule} END FROM t").fetchall()]


def _numpy(reasons: pa.Array, batch: list[str]) -> list[str | None]:
    return [None if v is None or v.strip(" ") == "" else r
            for v, r in zip(batch, reasons.to_pylist(), strict=True)]


@settings(max_examples=60, deadline=None)
@given(values, st.integers(1990, 2030))
def test_insz_rule_in_numpy_equals_sql(batch, year):
    assert _numpy(insz_reasons(pa.array(batch), year), batch) == _sql(insz_rule("v", year), batch)


@settings(max_examples=30, deadline=None)
@given(values)
def test_kbo_rule_in_numpy_equals_sql(batch):
    assert _numpy(kbo_reasons(pa.array(batch)), batch) == _sql(kbo_rule("v"), batch)


@settings(max_examples=30, deadline=None)
@given(values)
def test_rsz_employer_rule_in_numpy_equals_sql(batch):
    assert _numpy(rsz_employer_reasons(pa.array(batch)), batch) == _sql(
        rsz_employer_rule("v"), batch)


def test_sliced_and_null_values_are_checked_where_they_are():
    batch = pa.array(["x", "85073003328", None, "85073003329", "0123456749"]).slice(1)
    assert insz_reasons(batch, 2024).to_pylist() == [None, "insz_malformed", "insz_check_digit",
                                                     "insz_malformed"]
    assert kbo_reasons(batch.slice(3)).to_pylist() == [None]
