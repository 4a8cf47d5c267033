"""A pool of about N/28 employers with Zipf-like sizes, valid KBO and RSZ numbers, a NACE
division in both nomenclatures and a local-unit municipality. Pure generation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sdwh.synth import seeds
from sdwh.synth.numbers import kbo_numbers, rsz_numbers
from sdwh.synth.streams import stream

PERSONS_PER_EMPLOYER = 28
ZIPF_EXPONENT = 0.8
#: Relative weight of the NACE divisions that employ most people (others weigh 1).
BIG_DIVISIONS = {"47": 9, "46": 7, "86": 9, "85": 9, "84": 8, "88": 7, "78": 6, "43": 6, "56": 4,
                 "49": 4, "62": 3, "70": 3, "82": 3, "10": 3, "20": 2, "25": 2, "41": 2, "45": 2}
#: Upper bounds (exclusive) of the RSZ local-unit size classes 1..9.
SIZE_CLASS_BOUNDS = np.array([5, 10, 20, 50, 100, 200, 500, 1000])
#: Enterprise-number sequences of employers; the self-employed get the range above it.
EMPLOYER_KBO_RANGE = (2_000_000, 4_000_000)


@dataclass
class Employers:
    kbo: np.ndarray  # int64
    rsz: np.ndarray  # int64
    nace_2008: np.ndarray  # int8 index into seeds.nace_divisions()[0]
    nace_2025: np.ndarray  # int8 index into seeds.nace_divisions()[1]
    municipality: np.ndarray  # int16 index into seeds.geography()
    size_class: np.ndarray  # int8, set once the first quarter's workforce is known
    public: np.ndarray  # bool: public administration or education (statutory staff)
    cumulative_weight: np.ndarray  # float64, for drawing an employer by size

    @property
    def size(self) -> int:
        return len(self.kbo)

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Employers for ``n`` new jobs, in proportion to their size."""
        return np.searchsorted(self.cumulative_weight, rng.random(n) * self.cumulative_weight[-1]
                               ).astype(np.int32)

    def set_size_classes(self, headcount: np.ndarray) -> None:
        self.size_class = np.where(
            headcount == 0, 0, 1 + np.searchsorted(SIZE_CLASS_BOUNDS, headcount, side="right")
        ).astype(np.int8)


def nace_2025_of_2008() -> np.ndarray:
    """Stand-in correspondence: same division code if it exists in Rev. 2.1, else the nearest
    lower one (Statbel's conversion table is not available here)."""
    old, new = seeds.nace_divisions()
    new_codes = np.array([int(c) for c in new])
    idx = np.searchsorted(new_codes, [int(c) for c in old], side="right") - 1
    return np.maximum(idx, 0).astype(np.int8)


def generate_employers(persons: int, seed: int, municipality_weights: np.ndarray) -> Employers:
    rng = stream(seed, "employers")
    n = max(20, persons // PERSONS_PER_EMPLOYER)
    weight = 1.0 / np.arange(1, n + 1) ** ZIPF_EXPONENT
    old, _ = seeds.nace_divisions()
    w = np.array([BIG_DIVISIONS.get(c, 1.0) for c in old], dtype=float)
    nace = rng.choice(len(old), size=n, p=w / w.sum()).astype(np.int8)
    lo, hi = EMPLOYER_KBO_RANGE
    kbo_seq = lo + rng.choice(hi - lo, size=n, replace=False)
    radix = 100_000 + rng.choice(1_899_999, size=n, replace=False)
    public = np.isin(np.array(old)[nace], ["84", "85"])
    return Employers(
        kbo=kbo_numbers(kbo_seq), rsz=rsz_numbers(radix), nace_2008=nace,
        nace_2025=nace_2025_of_2008()[nace],
        municipality=rng.choice(len(municipality_weights), size=n, p=municipality_weights
                                ).astype(np.int16),
        size_class=np.zeros(n, dtype=np.int8), public=public,
        cumulative_weight=np.cumsum(weight),
    )
