"""Belgian identifier rules agree with python-stdnum, an independent implementation."""

from datetime import date

from hypothesis import given
from hypothesis import strategies as st
from stdnum.be import bis, nn, vat

from sdwh.identifiers import check_insz, is_valid_kbo, is_valid_rsz_employer, make_insz, make_kbo

births = st.dates(min_value=date(1920, 1, 1), max_value=date(2024, 12, 31))
serials = st.integers(min_value=1, max_value=997)


def test_worked_examples_from_the_domain_report():
    assert make_insz(date(1985, 7, 30), 33) == "85073003328"
    assert make_insz(date(2017, 7, 30), 33) == "17073003384"
    assert make_insz(date(1998, 7, 28), 997, bis_offset=40) == "98472899765"
    assert make_kbo(4030192) == "0403019261"
    assert is_valid_kbo("0428759497")  # check digits 97, never 00
    assert is_valid_rsz_employer("000100006") and is_valid_rsz_employer("199999934")
    assert not is_valid_rsz_employer("199999935")


@given(births, serials)
def test_generated_national_numbers_are_valid_for_stdnum(birth, serial):
    insz = make_insz(birth, serial)
    assert nn.is_valid(insz)
    assert check_insz(insz).kind == "rr"


@given(births, serials, st.sampled_from([20, 40]))
def test_generated_bis_numbers_are_valid_for_stdnum(birth, serial, offset):
    number = make_insz(birth, serial, bis_offset=offset)
    assert bis.is_valid(number)
    assert check_insz(number).kind == "bis"


@given(births, serials, st.integers(min_value=1, max_value=96))
def test_any_wrong_check_digit_is_caught(birth, serial, shift):
    insz = make_insz(birth, serial)
    wrong = insz[:9] + f"{(int(insz[9:]) - 1 + shift) % 97 + 1:02d}"
    expected_valid = nn.is_valid(wrong)  # the other century form may still match
    assert check_insz(wrong).valid == expected_valid


@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_sql_rule_agrees_with_python_rule(value):
    import duckdb

    from sdwh.landing.rules import insz_rule

    sql = f"SELECT {insz_rule('v', 2025)} FROM (SELECT ? AS v)"
    rule = duckdb.execute(sql, [value]).fetchone()[0]
    assert (rule or "") == check_insz(value, reference_year=2025).rule


@given(st.integers(min_value=0, max_value=19_999_999))
def test_kbo_numbers_agree_with_stdnum(sequence):
    number = make_kbo(sequence)
    assert is_valid_kbo(number) == vat.is_valid(number)
