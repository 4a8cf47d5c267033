"""The row-space shortcut of the differencing check finds exactly the atoms the LP pins down."""

from __future__ import annotations

import numpy as np
import pytest

from disclosure.differencing import TOL, _in_row_space, _IntervalSolver


@pytest.mark.parametrize("seed", range(25))
def test_row_space_test_agrees_with_the_lp_on_random_tables(seed):
    rng = np.random.default_rng(seed)
    n_atoms = int(rng.integers(3, 25))
    truth = rng.integers(1, 15, n_atoms).astype(float)
    cells = rng.random((int(rng.integers(1, 12)), n_atoms)) < rng.uniform(0.2, 0.8)
    E = cells.astype(float)
    solver = _IntervalSolver(E, E @ truth)
    atoms = np.arange(n_atoms)
    fast = _in_row_space(E, atoms)
    for a in atoms:
        c = np.zeros(n_atoms)
        c[a] = 1.0
        lo, hi = solver.interval(c)
        assert fast[a] == (hi - lo < TOL * max(1.0, truth[a])), (seed, a, lo, hi)


def test_no_equations_determine_nothing():
    assert not _in_row_space(np.zeros((0, 4)), np.arange(4)).any()
