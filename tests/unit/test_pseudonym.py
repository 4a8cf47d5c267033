"""TTP pseudonyms: the SQL HMAC equals the Python reference; keys are kept safely."""

import os
import stat
from concurrent.futures import ThreadPoolExecutor

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdwh.config import Settings
from sdwh.errors import SdwhError
from sdwh.ttp.keys import key_id, ttp_key
from sdwh.ttp.pseudonym import PseudonymCache, hmac_sql, pseudonymise

numbers = st.text(alphabet="0123456789", min_size=11, max_size=11)


@settings(max_examples=50, deadline=None)  # shared 2-core box: timing varies
@given(st.binary(min_size=32, max_size=32), st.lists(numbers, min_size=1, max_size=20))
def test_sql_hmac_is_byte_identical_to_python(key, values):
    con = duckdb.connect()
    rows = con.execute(f"SELECT {hmac_sql('v', key)} FROM unnest(?) t(v)", [values]).fetchall()
    assert [r[0] for r in rows] == [pseudonymise(v, key) for v in values]


@settings(max_examples=30, deadline=None)
@given(st.binary(min_size=16, max_size=80),
       st.lists(st.lists(numbers, max_size=30), min_size=1, max_size=10))
def test_cached_pseudonyms_equal_the_reference_across_batches(key, batches):
    cache = PseudonymCache(key)
    for batch in batches:
        sliced = pa.array(["00000000000", *batch]).slice(1)  # Arrow slices have an offset
        assert cache.pseudonyms(sliced).to_pylist() == [pseudonymise(v, key) for v in batch]
    assert len(cache) <= len({v for batch in batches for v in batch})


def test_cache_hashes_other_values_row_by_row():
    key = b"k" * 32
    values = ["85073003328", "", None, "8507300332", "85O73003328"]
    got = PseudonymCache(key).pseudonyms(pa.array(values)).to_pylist()
    assert got == [None if v is None else pseudonymise(v, key) for v in values]


@settings(max_examples=15, deadline=None)
@given(st.binary(min_size=16, max_size=80),
       st.lists(st.lists(numbers, max_size=40), min_size=1, max_size=4))
def test_new_numbers_hashed_in_duckdb_equal_the_reference(key, batches):
    import sdwh.ttp.pseudonym as module

    old, module.SQL_HMAC_FROM = module.SQL_HMAC_FROM, 1  # every batch takes the SQL path
    try:
        cache = PseudonymCache(key)
        for batch in batches:
            sliced = pa.array(["00000000000", *batch]).slice(1)
            assert cache.pseudonyms(sliced).to_pylist() == [pseudonymise(v, key) for v in batch]
    finally:
        module.SQL_HMAC_FROM = old


def test_cache_shared_by_threads_gives_the_reference():
    key = b"t" * 32
    batches = [[f"{(i * 7919 + j * 104729) % 10**11:011d}" for j in range(3000)]
               for i in range(12)]
    cache = PseudonymCache(key)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda b: cache.pseudonyms(pa.array(b)).to_pylist(),
                                batches * 2))
    assert results == [[pseudonymise(v, key) for v in b] for b in batches * 2]


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
