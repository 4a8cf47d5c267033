"""How a sample size is shared over strata (pure: no I/O).

Proportional: n_h ∝ N_h. Neyman: n_h ∝ N_h·S_h, which minimises the variance of the stratified
estimator of a total for a fixed n (Cochran 1977, §5.5). Both are rounded to integers with the
largest-remainder method so that Σ n_h = n exactly, respect a minimum per stratum (two units are
needed to estimate a within-stratum variance) and never exceed N_h; Neyman shares that would
exceed N_h are capped and the rest re-allocated (Cochran §5.8's over-allocation rule).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Method = Literal["proportional", "neyman"]


def allocate(population: np.ndarray, n: int, method: Method = "proportional",
             spread: np.ndarray | None = None, minimum: int = 2) -> np.ndarray:
    """Integer sample sizes per stratum; ``spread`` is S_h (needed for Neyman)."""
    sizes = np.asarray(population, dtype=np.int64)
    if n > sizes.sum():
        raise ValueError(f"a sample of {n} is larger than the population of {sizes.sum()}")
    floor = np.minimum(sizes, minimum)
    if floor.sum() > n:
        raise ValueError(f"a sample of {n} cannot give each of {len(sizes)} strata "
                         f"{minimum} units")
    if method == "neyman":
        if spread is None:
            raise ValueError("Neyman allocation needs the standard deviation per stratum")
        weight = sizes * np.maximum(np.asarray(spread, dtype=float), 0.0)
        if weight.sum() == 0:
            weight = sizes.astype(float)
    else:
        weight = sizes.astype(float)
    return _capped_shares(weight, sizes, floor, n)


def _capped_shares(weight: np.ndarray, sizes: np.ndarray, floor: np.ndarray,
                   n: int) -> np.ndarray:
    """Shares of ``n`` ∝ ``weight``, at least ``floor``, at most ``sizes``, summing to ``n``.

    Water-filling: find t with Σ clip(t·w_h, floor_h, N_h) = n by bisection, then round. A tiny
    size-proportional term lets strata with zero spread absorb what capped strata leave over.
    """
    w = weight + 1e-9 * sizes * max(float(weight.max()), 1.0)
    low, high = 0.0, float((sizes / w).max())
    for _ in range(200):
        middle = (low + high) / 2
        if np.clip(middle * w, floor, sizes).sum() < n:
            low = middle
        else:
            high = middle
    shares = np.clip(high * w, floor, sizes)
    return _round_to_total(shares, n, floor, sizes)


def _round_to_total(shares: np.ndarray, total: int, floor: np.ndarray,
                    sizes: np.ndarray) -> np.ndarray:
    """Largest-remainder rounding within bounds; ties broken by position (deterministic)."""
    base = np.clip(np.floor(shares + 1e-9).astype(np.int64), floor, sizes)
    remainder = shares - base
    position = np.arange(len(shares))
    while base.sum() < total:
        room = np.flatnonzero(base < sizes)
        best = room[np.lexsort((position[room], -remainder[room]))[: total - base.sum()]]
        base[best] += 1
        remainder[best] -= 1
    while base.sum() > total:
        room = np.flatnonzero(base > floor)
        best = room[np.lexsort((position[room], remainder[room]))[: base.sum() - total]]
        base[best] -= 1
        remainder[best] += 1
    return base
