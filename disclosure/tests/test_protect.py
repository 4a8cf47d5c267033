"""Suppression patterns: optimal vs fast, audit proves protection, property-based tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import sparse

from disclosure.audit import verify_witnesses
from disclosure.hypercube import protect_hypercube
from disclosure.protect import audit, protect, protect_fast, protect_table
from disclosure.rules import RuleParams, TableSpec


def test_microdata1_pattern_matches_sdctable_and_tauargus(microdata1):
    # sdcTable/τ-Argus OPT with FREQ(3): A×female (2) primary, secondaries A×male, C×male,
    # C×female; here with threshold 3 on row counts.
    params = RuleParams(threshold=3, zeros_disclosive=False)
    cells, res, _ = protect_table(microdata1, TableSpec.flat(["region", "gender"]),
                                  params=params, method="optimal")
    sup = cells[cells["suppressed"]].set_index(["region", "gender"]).index.tolist()
    assert sorted(sup) == [("A", "female"), ("A", "male"), ("C", "female"), ("C", "male")]
    assert res.audit.ok and res.optimal


def test_suppressed_count_cannot_be_recovered_from_margins():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.choice(list("pqrs"), 400), "b": rng.choice(list("xyz"), 400)})
    df.loc[:3, ["a", "b"]] = ["t", "x"]  # 4 records in a new row: a primary and its margin
    cells, res, _prob = protect_table(df, TableSpec.flat(["a", "b"]), method="fast")
    assert res.audit.ok
    prim = cells[cells["primary"] & cells["suppressed"]]
    small = prim["n_units"] > 0
    assert (prim.loc[small, "hi"] >= 10).all()  # the count cannot be proven below 10
    assert (prim.loc[~small, "hi"] >= 1).all()  # an empty cell cannot be proven empty
    exact, _, _ = protect_table(df, TableSpec.flat(["a", "b"]), method="fast", exact_audit=True)
    # proven bounds lie inside the exact intervals
    assert (exact["hi"] >= cells["hi"] - 1e-9).all() and (exact["lo"] <= cells["lo"] + 1e-9).all()


def test_tiny_budget_falls_back_to_an_audited_safe_pattern():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"a": rng.choice(list("abcdefgh"), 300), "b": rng.choice(list("xyzw"), 300),
                       "c": rng.choice(list("mf"), 300)})
    _, res, _ = protect_table(df, TableSpec.flat(["a", "b", "c"]), method="auto",
                              time_budget=0.001)
    assert res.method_used in ("hypercube", "fast", "suppress_all") and res.audit.ok and res.notes


def test_optimal_is_never_costlier_than_fast():
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"a": rng.choice(list("abcde"), 200, p=[.4, .3, .2, .07, .03]),
                       "b": rng.choice(list("xyz"), 200)})
    _cells, res, prob = protect_table(df, TableSpec.flat(["a", "b"]), method="optimal")
    fast = protect_fast(prob)
    assert prob.cost[res.suppressed].sum() <= prob.cost[fast].sum() + 1e-9


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 3), st.integers(0, 1)),
                min_size=20, max_size=150),
       st.sampled_from(["fast", "optimal", "hypercube"]))
def test_every_protected_pattern_passes_its_audit(rows, method):
    df = pd.DataFrame(rows, columns=["a", "b", "c"]).astype(str)
    _, res, prob = protect_table(df, TableSpec.flat(["a", "b", "c"]), method=method,
                                 time_budget=5)
    assert res.audit.ok
    assert audit(prob, res.suppressed, cells="all").ok


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["a1", "a2", "a3", "b1", "b2", "c1"]),
                          st.integers(0, 2), st.floats(0, 1e5, allow_nan=False)),
                min_size=10, max_size=120))
def test_hypercube_witnesses_are_real_deviations_on_hierarchies(rows):
    df = pd.DataFrame(rows, columns=["mun", "sex", "v"]).astype({"sex": str})
    df["prov"] = df["mun"].str[0]
    spec = TableSpec(dims={"geo": ["mun", "prov"], "sex": ["sex"]})
    _, res, prob = protect_table(df, spec, value="v", method="hypercube", time_budget=5)
    exact = audit(prob, res.suppressed, exact=True)
    assert res.audit.ok and exact.ok  # the proof and the exact LPs agree
    supp, W, _ = protect_hypercube(prob)
    assert verify_witnesses(prob, supp, W).all()


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2),
                          st.floats(1, 1e6, allow_nan=False)), min_size=15, max_size=80))
def test_magnitude_patterns_pass_audit(rows):
    df = pd.DataFrame(rows, columns=["a", "b", "v"]).astype({"a": str, "b": str})
    _, res, _ = protect_table(df, TableSpec.flat(["a", "b"]), value="v", method="auto",
                              time_budget=5)
    assert res.audit.ok


def test_hierarchical_table_is_protected_at_every_level():
    rng = np.random.default_rng(5)
    mun = rng.choice(["a1", "a2", "a3", "b1", "b2"], 500, p=[.3, .3, .02, .3, .08])
    df = pd.DataFrame({"mun": mun, "prov": [m[0] for m in mun], "sex": rng.choice(["M", "F"], 500)})
    spec = TableSpec(dims={"geo": ["mun", "prov"], "sex": ["sex"]})
    _cells, res, prob = protect_table(df, spec, method="auto")
    assert res.audit.ok and prob.A.shape[0] > 0
    assert protect(prob, "fast").audit.ok


def test_forged_witness_is_rejected_and_does_not_prove_protection():
    df = pd.DataFrame({"a": list("xxxxxxxxxxxxyyyyyyyyyyyyz"), "b": list("pq" * 12 + "p")})
    _, res, prob = protect_table(df, TableSpec.flat(["a", "b"]), method="hypercube")
    fake = np.zeros((1, len(prob.values)))
    p = int(np.flatnonzero(prob.primary)[0])
    fake[0, p] = 100.0  # moves a primary without moving its totals: not a deviation
    assert not verify_witnesses(prob, res.suppressed, sparse.csr_matrix(fake)).any()
    published = ~prob.primary  # nothing but the primaries suppressed: margins give them away
    bad = audit(prob, prob.primary.copy(), witnesses=sparse.csr_matrix(fake), exact=False)
    assert published.any() and not bad.ok


@pytest.mark.benchmark
def test_4d_table_with_thousands_of_primaries_is_protected_within_budget():
    # the SDC report's 4-D table (pytauargus MOD/OPT did not finish in 250 s)
    rng = np.random.default_rng(1)
    n = 10_000
    zipf = 1 / np.arange(1, 22) ** 1.3
    df = pd.DataFrame({
        "sector": rng.choice(list("ABCDEFGHIJKLMNOPQRSTU"), n, p=zipf / zipf.sum()),
        "sex": rng.choice(["F", "M"], n),
        "region": rng.choice(["ANT", "LIM", "OVL", "WVL", "VBR", "BRU", "HAI"], n,
                             p=[.22, .14, .2, .17, .16, .01, .1]),
        "agegrp": rng.choice(["15-24", "25-34", "35-44", "45-54", "55-64", "65+"], n),
        "wage": rng.lognormal(10, 0.6, n)})
    _, res, prob = protect_table(df, TableSpec.flat(["sector", "sex", "region", "agegrp"]),
                                 value="wage", method="auto", time_budget=30)
    assert len(prob.values) > 3000 and prob.primary.sum() > 1000
    assert res.method_used == "hypercube" and res.audit.ok and res.seconds < 30
