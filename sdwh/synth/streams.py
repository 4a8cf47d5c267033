"""Independent, named random streams derived from one seed.

Every draw in the generator comes from ``stream(seed, "name", ...)``: a PCG64 generator seeded
with ``[seed, crc32(name), ...]``. Names are stable strings, so adding a new stream never shifts
the numbers of an existing one, and nothing depends on time or Python's hash randomisation.
"""

from __future__ import annotations

import zlib

import numpy as np


def _key(part: str | int) -> int:
    return part if isinstance(part, int) else zlib.crc32(part.encode())


def stream(seed: int, *names: str | int) -> np.random.Generator:
    """A generator for one purpose, independent of every other named stream."""
    return np.random.Generator(np.random.PCG64([seed, *(_key(n) for n in names)]))


def stochastic_round(rng: np.random.Generator, expected: float) -> int:
    """An integer count whose mean is ``expected`` (so small rates still fire sometimes)."""
    whole = int(np.floor(expected))
    return whole + int(rng.random() < expected - whole)
