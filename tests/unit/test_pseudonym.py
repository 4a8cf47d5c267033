"""TTP pseudonyms: the SQL HMAC equals the Python reference; keys are kept safely."""

import os
import stat

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdwh.config import Settings
from sdwh.errors import SdwhError
from sdwh.ttp.keys import key_id, ttp_key
from sdwh.ttp.pseudonym import hmac_sql, pseudonymise

numbers = st.text(alphabet="0123456789", min_size=11, max_size=11)


@settings(max_examples=50)
@given(st.binary(min_size=32, max_size=32), st.lists(numbers, min_size=1, max_size=20))
def test_sql_hmac_is_byte_identical_to_python(key, values):
    con = duckdb.connect()
    rows = con.execute(f"SELECT {hmac_sql('v', key)} FROM unnest(?) t(v)", [values]).fetchall()
    assert [r[0] for r in rows] == [pseudonymise(v, key) for v in values]


def test_pseudonyms_differ_per_key_and_are_stable():
    assert pseudonymise("85073003328", b"a" * 32) == pseudonymise("85073003328", b"a" * 32)
    assert pseudonymise("85073003328", b"a" * 32) != pseudonymise("85073003328", b"b" * 32)
    assert len(pseudonymise("85073003328", b"a" * 32)) == 32


def test_key_is_created_once_with_mode_0600(tmp_path, monkeypatch):
    monkeypatch.setenv("SDWH_HOME", str(tmp_path))
    monkeypatch.delenv("SDWH_TTP_KEY", raising=False)
    first = ttp_key(Settings())
    path = tmp_path / "secrets" / "ttp.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert ttp_key(Settings()) == first
    assert key_id(first) != first.hex()[:8]


def test_a_key_readable_by_others_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("SDWH_HOME", str(tmp_path))
    monkeypatch.delenv("SDWH_TTP_KEY", raising=False)
    ttp_key(Settings())
    os.chmod(tmp_path / "secrets" / "ttp.key", 0o644)
    with pytest.raises(SdwhError, match="readable by other users"):
        ttp_key(Settings())


def test_a_malformed_key_from_the_environment_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("SDWH_HOME", str(tmp_path))
    monkeypatch.setenv("SDWH_TTP_KEY", "not-hex")
    with pytest.raises(SdwhError, match="64 hexadecimal"):
        ttp_key(Settings())
