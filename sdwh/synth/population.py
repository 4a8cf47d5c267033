"""A synthetic Flemish resident population scaled to N persons (reference date 1 January 2025).

Pure generation, no I/O. Sex x 5-year age comes from the 2025 estimate seed; municipality,
nationality and origin, civil status, households and education follow simple, documented
shares chosen to reproduce the calibration targets of the domain report (§4, §6.4). People
immigrate, emigrate and die during the simulated range, so consecutive register snapshots
differ. INSZ numbers are unique and valid (odd serial men, even women, 2-prefix from 2000).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from sdwh.synth import seeds
from sdwh.synth.dates import NEVER, age_on, day_number, parts
from sdwh.synth.numbers import insz_numbers
from sdwh.synth.streams import stream

REFERENCE = date(2025, 1, 1)
NON_BELGIAN_SHARE = 0.11
NATURALISED_SHARE = 0.055  # Belgians whose first nationality was foreign
SECOND_GENERATION_SHARE = 0.11  # Belgians by birth with at least one foreign-born parent
IMMIGRATION_PER_YEAR = 0.012
EMIGRATION_PER_YEAR = 0.006

# Current nationality of non-Belgians (ISO-2, weight); the rest spread over all other countries.
NATIONALITY_MIX = {
    "NL": 0.17, "RO": 0.08, "PL": 0.07, "MA": 0.06, "UA": 0.05, "BG": 0.05, "TR": 0.04,
    "IT": 0.03, "FR": 0.03, "ES": 0.03, "DE": 0.03, "PT": 0.03, "AF": 0.03, "SY": 0.03,
    "IN": 0.03, "ER": 0.02, "SK": 0.02, "GR": 0.01, "CN": 0.01, "CD": 0.01,
}
# Origin of Belgians with a foreign first nationality or foreign-born parent (older migration).
ORIGIN_MIX = {"MA": 0.25, "TR": 0.16, "NL": 0.14, "IT": 0.07, "CD": 0.04, "PL": 0.04,
              "RU": 0.03, "DZ": 0.03, "FR": 0.03, "DE": 0.03, "ES": 0.02, "AF": 0.02}

#: Share of low / medium / high final education by age on the reference date.
EDUCATION_BY_AGE = [  # (upper age bound exclusive, low, medium, high)
    (35, 0.13, 0.38, 0.49), (45, 0.15, 0.40, 0.45), (55, 0.21, 0.45, 0.34),
    (65, 0.29, 0.44, 0.27), (75, 0.40, 0.38, 0.22), (200, 0.55, 0.30, 0.15),
]
#: Age at which each ISCED level is usually awarded (used for AHOVOKS and attained level).
GRADUATION_AGE = np.array([0, 12, 14, 18, 19, 20, 21, 23, 28], dtype=np.int16)
CIVIL_BY_AGE = [  # (upper age bound exclusive, married, widowed, divorced); rest never married
    (18, 0.0, 0.0, 0.0), (25, 0.03, 0.0, 0.0), (35, 0.30, 0.0, 0.02), (50, 0.50, 0.005, 0.10),
    (65, 0.55, 0.03, 0.15), (80, 0.58, 0.17, 0.12), (200, 0.35, 0.50, 0.07),
]


@dataclass
class Population:
    """One row per person ever resident in the simulated range (struct of arrays)."""

    sex: np.ndarray  # int8, 0 = M, 1 = F
    birth: np.ndarray  # int32 day number
    birth_y: np.ndarray  # int32
    birth_md: np.ndarray  # int32 month*100 + day
    insz: np.ndarray  # int64
    arrival: np.ndarray  # int32 day number of entering the register (birth or immigration)
    departure: np.ndarray  # int32 day number of leaving (death/emigration), NEVER if not
    municipality: np.ndarray  # int16 index into seeds.geography()
    nationality: np.ndarray  # int16 NIS
    first_nationality: np.ndarray  # int16 NIS
    father_nationality: np.ndarray  # int16 NIS, 0 = unknown
    mother_nationality: np.ndarray  # int16 NIS, 0 = unknown
    civil_status: np.ndarray  # int8: 10/20/30/40
    household: np.ndarray  # int32 household id
    isced_final: np.ndarray  # int8 ISCED level reached by the end of education
    u_premerger: np.ndarray  # float32 uniform: below the defect rate -> old REFNIS in 2025+

    @property
    def size(self) -> int:
        return len(self.sex)

    def present_on(self, d: date) -> np.ndarray:
        n = day_number(d)
        return (self.birth <= n) & (self.arrival <= n) & (self.departure > n)

    def age_on(self, d: date) -> np.ndarray:
        return age_on(self.birth_y, self.birth_md, d)

    def isced_on(self, d: date) -> np.ndarray:
        """ISCED level attained on ``d``: the final level once old enough, else a step below."""
        age = self.age_on(d)
        final = self.isced_final
        attained = final.copy()
        young = age < GRADUATION_AGE[final]
        attained[young] = np.select(
            [age[young] >= 18, age[young] >= 14, age[young] >= 12], [3, 2, 1], 0
        ).astype(np.int8)
        return np.minimum(attained, final)


def _mix(rng: np.random.Generator, weights: dict[str, float], n: int, rest: float) -> np.ndarray:
    """NIS codes drawn from an ISO-2 weighting, ``rest`` spread over all other countries."""
    nis = seeds.country_codes()
    named = [nis[c] for c in weights]
    others = sorted(set(nis.values()) - set(named) - {nis["BE"]})
    codes = np.array(named + others, dtype=np.int16)
    w = np.array(list(weights.values()) + [rest / len(others)] * len(others))
    return codes[rng.choice(len(codes), size=n, p=w / w.sum())]


def municipality_weights(seed: int) -> np.ndarray:
    """Skewed municipality sizes: lognormal, with the large cities at roughly their share."""
    rng = stream(seed, "municipality-sizes")
    geo = seeds.geography()
    w = rng.lognormal(0.0, 0.55, size=len(geo.refnis_2024))
    big = {11002: 0.079, 44021: 0.039, 31005: 0.018, 24062: 0.015, 12025: 0.013, 71022: 0.012,
           34022: 0.011, 35013: 0.011, 46021: 0.011, 41002: 0.012}
    rest = 1 - sum(big.values())
    is_big = np.isin(geo.refnis_2024, list(big))
    w = np.where(is_big, 0.0, w)
    w *= rest / w.sum()
    for code, share in big.items():
        w[geo.refnis_2024 == code] = share
    return w / w.sum()


def _ages(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    bands, counts = seeds.population_marginal()
    p = (counts / counts.sum()).ravel()  # band-major, sex-minor
    cell = rng.choice(len(p), size=n, p=p)
    band, sex = cell // 2, (cell % 2).astype(np.int8)
    low = np.array([int(b.split("-")[0].rstrip("+")) for b in bands], dtype=np.int16)
    within = rng.integers(0, 5, size=n)
    oldest = band == len(bands) - 1
    within[oldest] = np.minimum(rng.geometric(0.3, size=int(oldest.sum())) - 1, 10)
    return (low[band] + within).astype(np.int16), sex


def _serials(rng: np.random.Generator, birth: np.ndarray, sex: np.ndarray) -> np.ndarray:
    """Daily counters: odd for men (1, 3, ...), even for women, unique per birth date."""
    order = np.lexsort((rng.random(len(birth)), sex, birth))
    key = birth[order].astype(np.int64) * 2 + sex[order]
    start = np.r_[True, key[1:] != key[:-1]]
    group_start = np.maximum.accumulate(np.where(start, np.arange(len(key)), 0))
    rank = np.arange(len(key)) - group_start
    serial = np.empty(len(birth), dtype=np.int64)
    serial[order] = 2 * rank + 1 + sex[order]
    if serial.max() > 998:
        raise ValueError("too many persons per birth date for 3-digit INSZ serials")
    return serial


def _households(rng: np.random.Generator, age: np.ndarray) -> np.ndarray:
    """Households of 1-5 persons: adults of similar age grouped 1-3, children added to
    households whose oldest adult is 22-55 (at most 5 persons)."""
    n = len(age)
    household = np.empty(n, dtype=np.int32)
    adults = np.flatnonzero(age >= 18)
    adults = adults[np.argsort(age[adults] + rng.normal(0, 4, len(adults)), kind="stable")]
    sizes = rng.choice([1, 2, 3], size=len(adults), p=[0.5, 0.44, 0.06])
    ends = np.cumsum(sizes)
    n_households = int(np.searchsorted(ends, len(adults)) + 1)
    hh_of_adult = np.repeat(np.arange(n_households, dtype=np.int32), sizes[:n_households])
    household[adults] = hh_of_adult[: len(adults)]
    adult_count = np.bincount(household[adults], minlength=n_households)
    oldest = np.zeros(n_households, dtype=np.int16)
    np.maximum.at(oldest, household[adults], age[adults])
    families = np.flatnonzero((oldest >= 22) & (oldest <= 55) & (adult_count <= 2))
    families = families[rng.permutation(len(families))]
    wanted = rng.choice([1, 2, 3], size=len(families), p=[0.4, 0.42, 0.18])
    slots = np.repeat(families, np.minimum(wanted, 5 - adult_count[families]))
    children = np.flatnonzero(age < 18)
    children = children[rng.permutation(len(children))]
    if len(children) > len(slots):  # tiny populations: overflow into any household
        extra = rng.integers(0, n_households, len(children) - len(slots)).astype(np.int32)
        slots = np.concatenate([slots, extra])
    household[children] = slots[: len(children)]
    return household


def _education(rng: np.random.Generator, age: np.ndarray) -> np.ndarray:
    bounds = np.array([b[0] for b in EDUCATION_BY_AGE])
    probs = np.array([b[1:] for b in EDUCATION_BY_AGE])
    cum = np.cumsum(probs[np.searchsorted(bounds, age, side="right")], axis=1)
    level3 = (rng.random(len(age))[:, None] > cum).sum(axis=1)
    u = rng.random(len(age))
    low = np.where(u < 0.25, 1, 2)
    mid = np.where(u < 0.9, 3, 4)
    high = np.select([u < 0.04, u < 0.49, u < 0.95], [5, 6, 7], 8)
    return np.choose(level3, [low, mid, high]).astype(np.int8)


def _civil_status(rng: np.random.Generator, age: np.ndarray) -> np.ndarray:
    bounds = np.array([b[0] for b in CIVIL_BY_AGE])
    probs = np.array([b[1:] for b in CIVIL_BY_AGE])
    cum = np.cumsum(probs[np.searchsorted(bounds, age, side="right")], axis=1)
    pick = (rng.random(len(age))[:, None] > cum).sum(axis=1)
    return np.array([20, 30, 40, 10], dtype=np.int8)[pick]


def _origins(rng: np.random.Generator, age: np.ndarray, immigrant: np.ndarray,
             birth_y: np.ndarray) -> tuple[np.ndarray, ...]:
    n = len(age)
    be = np.int16(seeds.country_codes()["BE"])
    w = np.select([age < 18, age < 25, age < 45, age < 65], [0.08, 0.12, 0.17, 0.09], 0.04)
    w = np.where(immigrant, 0.0, w)
    target = NON_BELGIAN_SHARE * 1.04 * n - 0.6 * immigrant.sum()  # net of later arrivals
    p = np.where(immigrant, 0.6, w * max(target, 0) / max(w.sum(), 1e-9))
    foreign = rng.random(n) < p
    nationality = np.full(n, be, dtype=np.int16)
    nationality[foreign] = _mix(rng, NATIONALITY_MIX, int(foreign.sum()), 0.12)
    first = nationality.copy()
    naturalised = ~foreign & (rng.random(n) < NATURALISED_SHARE * (age >= 12))
    first[naturalised] = _mix(rng, ORIGIN_MIX, int(naturalised.sum()), 0.12)
    father, mother = first.copy(), first.copy()
    second = ~foreign & ~naturalised & (rng.random(n) < SECOND_GENERATION_SHARE)
    origin = _mix(rng, ORIGIN_MIX, int(second.sum()), 0.12)
    which = rng.choice(3, size=int(second.sum()), p=[0.4, 0.3, 0.3])
    idx = np.flatnonzero(second)
    father[idx[which != 1]] = origin[which != 1]
    mother[idx[which != 0]] = origin[which != 0]
    unknown = (birth_y < 1950) & (nationality == be) & (first == be) & (rng.random(n) < 0.25)
    father[unknown] = 0
    mother[unknown] = 0
    return nationality, first, father, mother


def generate_population(n: int, seed: int, start: date, end: date) -> Population:
    """``n`` persons resident on 1 January 2025 (give or take migration) and their history
    between ``start`` and ``end``."""
    rng = stream(seed, "population")
    age, sex = _ages(rng, n)
    ref = day_number(REFERENCE)
    birth = (ref - age.astype(np.int32) * 365.25 - rng.integers(1, 366, n)).astype(np.int32)
    by, bm, bd = parts(birth)
    age = age_on(by, bm * 100 + bd, REFERENCE)
    span_years = (end - start).days / 365.25
    first_day, last_day = day_number(start), day_number(end)

    imm_weight = np.where((age >= 18) & (age < 50), 3.0, 0.4)
    p_imm = IMMIGRATION_PER_YEAR * span_years * imm_weight / imm_weight.mean()
    immigrant = (rng.random(n) < p_imm) & (birth < first_day)
    arrival = np.where(immigrant, rng.integers(first_day, last_day + 1, n), birth).astype(np.int32)

    death = np.minimum(np.exp(-10.3 + 0.094 * age), 0.5)
    emigr = np.where((age >= 20) & (age < 40), 2.0, 0.6) * EMIGRATION_PER_YEAR
    p_leave = 1 - (1 - death - emigr) ** span_years
    leaves = rng.random(n) < p_leave
    earliest = np.maximum(np.maximum(arrival, birth), first_day) + 1
    when = earliest + (rng.random(n) * np.maximum(last_day - earliest, 1)).astype(np.int32)
    departure = np.where(leaves & (earliest < last_day), when, NEVER).astype(np.int32)

    household = _households(rng, age)
    municipality_of_household = rng.choice(
        len(seeds.geography().refnis_2024), size=int(household.max()) + 1,
        p=municipality_weights(seed)).astype(np.int16)
    nationality, first, father, mother = _origins(rng, age, immigrant, by)
    serial = _serials(rng, birth, sex)
    return Population(
        sex=sex, birth=birth, birth_y=by, birth_md=(bm * 100 + bd).astype(np.int32),
        insz=insz_numbers(by, bm, bd, serial), arrival=arrival, departure=departure,
        municipality=municipality_of_household[household], nationality=nationality,
        first_nationality=first, father_nationality=father, mother_nationality=mother,
        civil_status=_civil_status(rng, age), household=household,
        isced_final=_education(rng, age), u_premerger=rng.random(n, dtype=np.float32),
    )
