"""Sample allocation, selection and calibration: the statistics of the TTP survey service."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdwh.sampling.allocation import allocate
from sdwh.sampling.calibration import calibrate
from sdwh.sampling.selection import select_units
from sdwh.sampling.variance import jackknife_variance, replicate_totals


@given(st.lists(st.integers(2, 5000), min_size=1, max_size=12), st.data())
@settings(max_examples=80, deadline=None)
def test_allocation_sums_to_n_within_bounds(sizes: list[int], data: st.DataObject) -> None:
    population = np.array(sizes)
    n = data.draw(st.integers(2 * len(sizes), int(population.sum())))
    spread = np.array(data.draw(st.lists(st.floats(0, 10), min_size=len(sizes),
                                         max_size=len(sizes))))
    for method in ("proportional", "neyman"):
        n_h = allocate(population, n, method, spread, minimum=2)
        assert n_h.sum() == n
        assert (n_h >= 2).all() and (n_h <= population).all()


def test_neyman_follows_size_times_spread_and_caps_overallocation() -> None:
    n_h = allocate(np.array([1000, 1000, 1000]), 300, "neyman", np.array([1.0, 2.0, 3.0]))
    assert n_h.tolist() == [50, 100, 150]
    capped = allocate(np.array([60, 1000, 1000]), 400, "neyman", np.array([50.0, 1.0, 1.0]))
    assert capped[0] == 60 and capped.sum() == 400 and capped[1] == capped[2] == 170


def test_allocation_refuses_impossible_designs() -> None:
    with pytest.raises(ValueError, match="larger than the population"):
        allocate(np.array([5, 5]), 11)
    with pytest.raises(ValueError, match="cannot give each"):
        allocate(np.array([100, 100, 100]), 5, minimum=2)


def test_selection_is_reproducible_and_exact_per_stratum() -> None:
    strata = np.repeat([0, 1, 2], [100, 50, 10])
    sizes = {0: 10, 1: 5, 2: 10}
    first = select_units(strata, sizes, seed=3)
    again = select_units(strata, sizes, seed=3)
    other = select_units(strata, sizes, seed=4)
    assert np.array_equal(first.units, again.units)
    assert not np.array_equal(first.units, other.units)
    assert np.bincount(strata[first.units]).tolist() == [10, 5, 10]
    assert np.allclose(first.probability[strata[first.units] == 0], 0.1)
    assert np.allclose(first.probability[strata[first.units] == 2], 1.0)


def test_horvitz_thompson_total_is_unbiased_over_repeated_draws() -> None:
    """E[Σ y/π] = Y: the mean of 2,000 stratified draws is within 3 standard errors of Y."""
    rng = np.random.default_rng(0)
    strata = np.repeat([0, 1, 2, 3], [400, 300, 200, 100])
    y = rng.gamma(2.0, 10.0, size=len(strata)) * (1 + strata)
    sizes = {0: 8, 1: 6, 2: 4, 3: 2}
    estimates = []
    for seed in range(2000):
        s = select_units(strata, sizes, seed)
        estimates.append(float((y[s.units] / s.probability).sum()))
    estimates = np.array(estimates)
    standard_error = estimates.std(ddof=1) / np.sqrt(len(estimates))
    assert abs(estimates.mean() - y.sum()) < 3 * standard_error


def _indicators(categories: list[np.ndarray]) -> np.ndarray:
    return np.column_stack([c == level for c in categories for level in np.unique(c)]).astype(
        float)


@pytest.mark.parametrize("distance", ["raking", "linear"])
def test_calibration_reproduces_register_margins(distance: str) -> None:
    rng = np.random.default_rng(1)
    sex = rng.integers(0, 2, 500)
    age = rng.integers(0, 5, 500)
    province = rng.integers(0, 3, 500)
    x = _indicators([sex, age, province])
    d = np.full(500, 20.0)
    totals = np.concatenate([[5200, 4800], [1900, 2100, 2000, 2050, 1950], [3000, 4000, 3000]])
    result = calibrate(x, d, totals, distance)
    assert np.allclose(x.T @ result.weights, totals, rtol=1e-8)
    if distance == "raking":
        assert (result.weights > 0).all()


def test_raking_equals_iterative_proportional_fitting() -> None:
    """For categorical margins, the exponential distance gives IPF's fixed point."""
    rng = np.random.default_rng(2)
    a, b = rng.integers(0, 3, 300), rng.integers(0, 4, 300)
    d = rng.uniform(5, 15, 300)
    ta, tb = np.array([1000.0, 1200.0, 800.0]), np.array([700.0, 800.0, 900.0, 600.0])
    ours = calibrate(_indicators([a, b]), d, np.concatenate([ta, tb]), "raking").weights
    w = d.copy()
    for _ in range(500):
        w *= (ta / np.bincount(a, w))[a]
        w *= (tb / np.bincount(b, w))[b]
    assert np.allclose(ours, w, rtol=1e-6)


def test_calibration_fails_clearly_when_a_margin_has_no_respondents() -> None:
    x = _indicators([np.array([0, 0, 1, 1])])
    x = np.column_stack([x, np.zeros(4)])
    with pytest.raises(ValueError, match="no respondents"):
        calibrate(x, np.ones(4), np.array([2.0, 2.0, 5.0]), "raking", max_iterations=20)


def _stratified_clustered_sample(seed: int, strata: int, psus: tuple[int, int]
                                 ) -> dict[str, np.ndarray]:
    """A stratified sample of households (1-4 persons each) with constant weights per stratum."""
    rng = np.random.default_rng(seed)
    stratum, psu, weight = [], [], []
    for h in range(strata):
        n_h = int(rng.integers(*psus))
        d_h = float(rng.uniform(20, 80))
        for i in range(n_h):
            size = int(rng.integers(1, 5))
            stratum += [h] * size
            psu += [f"{h}-{i}"] * size
            weight += [d_h] * size
    n = len(stratum)
    return {"stratum": np.array(stratum), "psu": np.array(psu), "weight": np.array(weight),
            "sex": rng.integers(0, 2, n), "age": rng.integers(0, 3, n)}


def _with_replacement_variance(z: np.ndarray, stratum: np.ndarray, psu: np.ndarray) -> float:
    """Σ_h n_h/(n_h − 1) Σ_i (z_hi − z̄_h)² over PSU totals z_hi (Wolter 2007, eq. 2.4.6)."""
    variance = 0.0
    for h in np.unique(stratum):
        in_h = stratum == h
        units = np.unique(psu[in_h])
        z_h = np.array([z[in_h & (psu == u)].sum() for u in units])
        variance += len(units) / (len(units) - 1) * ((z_h - z_h.mean()) ** 2).sum()
    return float(variance)


def test_jackknife_of_a_linear_total_equals_the_textbook_variance() -> None:
    s = _stratified_clustered_sample(3, strata=5, psus=(2, 9))
    y = np.random.default_rng(4).gamma(2.0, 10.0, len(s["weight"]))
    reps = replicate_totals(y, s["stratum"], s["psu"], s["weight"])
    assert len(reps.coefficients) == len(np.unique(s["psu"]))
    variance = jackknife_variance(float(s["weight"] @ y), reps.totals[:, 0], reps.coefficients)
    expected = _with_replacement_variance(s["weight"] * y, s["stratum"], s["psu"])
    assert variance == pytest.approx(expected, rel=1e-10)


def test_recalibrated_jackknife_matches_the_linearisation_variance() -> None:
    """With recalibration per replicate the jackknife approximates the GREG linearisation
    variance (Deville & Särndal 1992: the with-replacement variance of w·e, e the residual of
    y on the calibration variables), and calibration removes the variance that x explains."""
    s = _stratified_clustered_sample(5, strata=8, psus=(25, 40))
    n = len(s["weight"])
    x = np.column_stack([s["sex"] == 0, s["sex"] == 1, s["age"] == 0, s["age"] == 1,
                         s["age"] == 2]).astype(float)
    population = 1.02 * s["weight"].sum()  # the register differs from the weighted sample
    totals = population * np.array([0.49, 0.51, 0.30, 0.38, 0.32])
    rng = np.random.default_rng(6)
    y = 5.0 * s["sex"] + 8.0 * s["age"] + rng.normal(0, 3.0, n)
    w = calibrate(x, s["weight"], totals, "linear").weights
    beta = np.linalg.lstsq(x.T @ (x * w[:, None]), x.T @ (w * y), rcond=None)[0]
    linearised = _with_replacement_variance(w * (y - x @ beta), s["stratum"], s["psu"])
    reps = replicate_totals(y, s["stratum"], s["psu"], s["weight"], x, totals, "linear")
    assert reps.not_recalibrated == 0
    jackknife = jackknife_variance(float(w @ y), reps.totals[:, 0], reps.coefficients)
    assert jackknife == pytest.approx(linearised, rel=0.05)
    uncalibrated = _with_replacement_variance(s["weight"] * y, s["stratum"], s["psu"])
    assert jackknife < 0.5 * uncalibrated
