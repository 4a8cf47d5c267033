"""Output verdicts carry evidence; cell-key noise is consistent however a table is asked."""

from __future__ import annotations

import numpy as np
import pandas as pd

from disclosure.cellkey import PTable, perturb_counts, record_keys
from disclosure.outputs import (
    frequency_table,
    histogram,
    magnitude_table,
    min_max,
    quantiles,
    regression,
)


def _df(n=300, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.choice(list("xyz"), n, p=[.49, .49, .02]),
                         "b": rng.choice(list("pq"), n), "v": rng.lognormal(3, 1, n),
                         "id": np.arange(n)})


def test_frequency_verdict_lists_failing_cells_and_checksum():
    v = frequency_table(_df(), ["a", "b"])
    assert v.status == "fail" and v.failing_cells
    assert all(c["a"] == "z" for c in v.failing_cells)
    assert len(v.input_sha256) == 64 and v.rule_parameters["threshold"] == 10
    assert frequency_table(_df(), ["a", "b"]).input_sha256 == v.input_sha256


def test_magnitude_verdict_flags_dominated_cell():
    df = _df()
    df.loc[df.a == "x", "v"] = 1.0
    df.loc[df.index[df.a == "x"][0], "v"] = 1e6
    v = magnitude_table(df, ["a"], "v")
    rules = {c["a"]: c["rules"] for c in v.failing_cells}
    assert "nk" in rules["x"] and "threshold" in rules["z"]


def test_min_max_fail_and_shared_quantiles_pass():
    assert min_max(_df(), "v").status == "fail"
    df = pd.DataFrame({"v": [1.0] * 20 + [2.0] * 20})
    assert quantiles(df, "v", [0.25, 0.5, 0.75]).status == "pass"


def test_regression_checks_dof_saturation_and_small_dummies():
    assert regression(100, 5).status == "pass"
    assert regression(12, 5).failing_cells[0]["rule"] == "residual_dof"
    assert regression(5, 5).failing_cells[0]["rule"] == "saturated_model"
    assert regression(100, 5, {"sector=T": 3}).failing_cells[0]["rule"] == "small_category"


def test_histogram_small_bins_fail_and_data_driven_edges_need_review():
    df = pd.DataFrame({"v": [*range(100), 1000]})
    assert histogram(df, "v", bins=10).status == "fail"
    assert histogram(df.iloc[:100], "v", bins=[0, 50, 100]).status == "pass"
    assert histogram(df.iloc[:100], "v", bins=2).status == "review"


def test_ptable_rows_have_zero_mean_and_target_variance():
    pt = PTable.build(D=3, V=1.5, js=2)
    for j, (vals, cum) in pt.rows.items():
        p = np.diff(np.concatenate([[0.0], cum, [1.0]]))
        assert abs((p * vals).sum()) < 1e-9
        assert (j + vals >= 0).all() and ((j + vals >= 2) | (j + vals == 0)).all()
        if j > 0 and len(vals) > 1:
            assert abs((p * vals**2).sum() - 1.5) < 1e-9


def test_same_units_get_same_noise_however_the_table_is_requested():
    df = _df(500)
    secret = b"enclave-secret"
    full = perturb_counts(df, ["a", "b"], "id", secret).table
    shuffled = perturb_counts(df.sample(frac=1, random_state=3), ["b", "a"], "id", secret).table
    merged = full.merge(shuffled, on=["a", "b"])
    assert (merged["noise_x"] == merged["noise_y"]).all()
    # a one-dimensional request for the same population of units gets the same cell key
    sub = df[df.b == "p"].assign(b="p")
    one = perturb_counts(sub, ["b"], "id", secret).table
    whole = perturb_counts(df.assign(all="p")[df.b == "p"], ["all"], "id", secret).table
    assert one["cell_key"].iloc[0] == whole["cell_key"].iloc[0]


def test_record_keys_depend_on_the_secret_and_are_uniform():
    k1 = record_keys(range(20000), b"s1")
    k2 = record_keys(range(20000), b"s2")
    assert not np.allclose(k1, k2)
    assert abs(k1.mean() - 0.5) < 0.01 and ((k1 >= 0) & (k1 < 1)).all()


def test_input_checksum_depends_on_values_not_on_storage():
    import duckdb
    import pyarrow as pa

    from disclosure._frame import sha256_columns

    df = _df()
    ref = sha256_columns(df, ["a", "b"])
    table = pa.Table.from_pandas(df[["a", "b"]], preserve_index=False)
    rechunked = pa.Table.from_batches(table.to_batches(max_chunksize=7))
    assert sha256_columns(rechunked, ["a", "b"]) == ref
    assert sha256_columns(df.astype({"a": object}), ["a", "b"]) == ref
    assert sha256_columns(duckdb.sql("select a, b from df"), ["a", "b"]) == ref
    moved = pd.DataFrame({"a": ["xy", "z"]}), pd.DataFrame({"a": ["x", "yz"]})
    assert sha256_columns(moved[0], ["a"]) != sha256_columns(moved[1], ["a"])
    with_null = df.copy()
    with_null.loc[3, "a"] = None
    assert sha256_columns(with_null, ["a"]) != sha256_columns(df, ["a"])
    v = frequency_table(df, ["a", "b"])
    assert v.input_sha256 == ref and v.evidence["input_columns"] == ["a", "b"]
