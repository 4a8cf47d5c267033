"""Stratified simple random selection without replacement (pure: arrays in, arrays out).

Units are persons or, with household clustering, households: every eligible member of a
selected household is in the sample with the household's inclusion probability π = n_h / N_h
(a one-stage stratified cluster sample). The generator is NumPy's PCG64 seeded from the design
seed; units are taken in a fixed order (sorted keys), so the same seed and frame give the same
sample on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Selection:
    """Selected unit positions (into the sorted unit array) and their inclusion probabilities."""

    units: np.ndarray
    probability: np.ndarray


def select_units(stratum_of_unit: np.ndarray, sample_sizes: dict[int, int],
                 seed: int) -> Selection:
    """Draw ``sample_sizes[h]`` units from each stratum ``h`` (units given in a fixed order)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    chosen, probability = [], []
    for stratum in sorted(sample_sizes):
        members = np.flatnonzero(stratum_of_unit == stratum)
        take = sample_sizes[stratum]
        if take > len(members):
            raise ValueError(f"stratum {stratum} has {len(members)} units, {take} asked")
        picked = np.sort(rng.choice(len(members), size=take, replace=False))
        chosen.append(members[picked])
        probability.append(np.full(take, take / len(members)))
    if not chosen:
        return Selection(np.array([], dtype=np.int64), np.array([], dtype=float))
    units = np.concatenate(chosen)
    order = np.argsort(units, kind="stable")
    return Selection(units[order], np.concatenate(probability)[order])
