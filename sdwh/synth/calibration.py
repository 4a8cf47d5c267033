"""Target shares of each labour-market state per person cell (sex x age x education), raked
so that the 2025 population reproduces the domain report's figures (§4.2, §6.4).

Pure numbers, no randomness: given cell counts, :func:`state_shares` returns the share of
each state in each cell. The quarter-to-quarter chain in :mod:`labour_market` keeps these
shares as its stationary distribution.
"""

from __future__ import annotations

import numpy as np

# States of a person at the end of a quarter (int8 codes).
OUT, SCHOOL, EMPLOYEE, EMPLOYEE_BB, SELF, UNEMPLOYED, INACTIVE, RETIRED, RETIRED_NP = range(9)
N_STATES = 9
WORKING = (EMPLOYEE, EMPLOYEE_BB, SELF, RETIRED_NP)
STATE_NAMES = ("out", "school", "employee", "employee+bb", "self", "unemployed", "inactive",
               "retired", "retired+np")

MAX_AGE = 110
N_CELLS = 2 * (MAX_AGE + 1) * 3
CROSS_BORDER_CELL = N_CELLS  # one extra cell: workers with a BIS number living abroad
CROSS_BORDER_EMPLOYED = 0.85

EMPLOYMENT_20_64 = {"M": 0.803, "F": 0.733}
EMPLOYMENT_55_64 = 0.608
EMPLOYMENT_BY_EDUCATION = (0.526, 0.780, 0.908)  # low, medium, high (ISCED 0-2, 3-4, 5-8)
SELF_EMPLOYED_SHARE = {"M": 0.17, "F": 0.10}  # main job self-employed, among workers 20-64
SECONDARY_PER_MAIN = 25.7 / 63.3  # RSVZ bijberoep per hoofdberoep
AFTER_PENSION_PER_MAIN = 11.0 / 63.3
NWWZ_SHARE_OF_POPULATION = 214_239 / 6_864_766

_EMPLOYMENT_PRIOR = [(15, 0.0), (20, 0.15), (25, 0.55), (30, 0.85), (50, 0.88), (55, 0.84),
                     (60, 0.76), (65, 0.42), (70, 0.07), (75, 0.03), (85, 0.01), (999, 0.0)]


def cell_index(sex: np.ndarray, age: np.ndarray, education3: np.ndarray) -> np.ndarray:
    return ((sex.astype(np.int32) * (MAX_AGE + 1) + np.clip(age, 0, MAX_AGE)) * 3
            + education3).astype(np.int32)


def education3(isced: np.ndarray) -> np.ndarray:
    return np.select([isced < 3, isced < 5], [0, 1], 2).astype(np.int8)


def _by_age(table: list[tuple[int, float]], age: np.ndarray) -> np.ndarray:
    bounds = np.array([b for b, _ in table])
    values = np.array([v for _, v in table])
    return values[np.searchsorted(bounds, age, side="right")]


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _shift_to(logit: np.ndarray, n: np.ndarray, group: np.ndarray, target: float) -> np.ndarray:
    """Add one constant to the logits of ``group`` so its weighted mean hits ``target``."""
    total = n[group].sum()
    if total == 0:
        return logit
    delta = 0.0
    for _ in range(30):
        p = _sigmoid(logit[group] + delta)
        gap = (n[group] * p).sum() / total - target
        slope = (n[group] * p * (1 - p)).sum() / total
        delta -= gap / max(slope, 1e-9)
    logit = logit.copy()
    logit[group] += delta
    return logit


def state_shares(counts: np.ndarray) -> np.ndarray:
    """Share of each state per cell, shape (N_CELLS + 1, N_STATES); ``counts`` are persons per
    cell on the reference date."""
    cells = np.arange(N_CELLS)
    educ = cells % 3
    age = (cells // 3) % (MAX_AGE + 1)
    sex = cells // (3 * (MAX_AGE + 1))
    n = counts.astype(float)
    core = (age >= 20) & (age < 65)

    prior = _by_age(_EMPLOYMENT_PRIOR, age)
    logit = _logit(prior) + np.where(sex == 0, 0.3, -0.3) + np.array([-0.9, 0.0, 0.8])[educ]
    # The education rates come from a survey population whose education mix differs from the
    # synthetic one, so taken as they are they contradict the rates by sex (the raking then
    # ends wherever its last step leaves it: 55-64 1.3 pp low). Keep their ratios, scaled to
    # the total the rates by sex imply.
    by_sex = sum(n[core & (sex == s)].sum() * t for s, t in enumerate(EMPLOYMENT_20_64.values()))
    by_educ = sum(n[core & (educ == e)].sum() * t for e, t in enumerate(EMPLOYMENT_BY_EDUCATION))
    educ_scale = by_sex / by_educ if by_educ > 0 else 1.0
    for _ in range(40):
        for e, target in enumerate(np.array(EMPLOYMENT_BY_EDUCATION) * educ_scale):
            logit = _shift_to(logit, n, core & (educ == e), target)
        logit = _shift_to(logit, n, core & (age >= 55), EMPLOYMENT_55_64)
        for s, target in enumerate(EMPLOYMENT_20_64.values()):
            logit = _shift_to(logit, n, core & (sex == s), target)
    work = np.where(core, _sigmoid(logit), prior)

    # Main job self-employed, among workers 20-64, by sex; more often at older ages.
    age_factor = np.select([age < 30, age < 50], [0.5, 1.0], 1.25)
    self_share = np.zeros(N_CELLS)
    for s, target in enumerate(SELF_EMPLOYED_SHARE.values()):
        g = core & (sex == s)
        self_share[g] = age_factor[g] * target * (n[g] * work[g]).sum() / (
            n[g] * work[g] * age_factor[g]).sum()
    self_share = np.minimum(self_share, 0.6)
    self_share[(age >= 15) & (age < 20)] = 0.01
    main_self = (n * work * self_share)[age < 65].sum()

    young_or_core = (age >= 15) & (age < 65)
    employees = (n * work * (1 - self_share))[core].sum()
    bb = min(SECONDARY_PER_MAIN * main_self / max(employees, 1), 0.5)

    # After-pension self-employed: scale the 65+ work rates so NP ~ 11/63 of HB.
    old = age >= 65
    np_share_of_old_workers = 0.7
    old_work = (n * work)[old].sum()
    if old_work > 0:
        work[old] *= AFTER_PENSION_PER_MAIN * main_self / np_share_of_old_workers / old_work

    # Jobseekers (NWWZ) among non-workers 18-64.
    jobseeker_profile = np.select([age < 18, age < 25, age < 55, age < 65], [0, 0.6, 1.0, 0.7], 0)
    scale = NWWZ_SHARE_OF_POPULATION * n.sum() / max((n * (1 - work) * jobseeker_profile).sum(), 1)
    unemployed = np.minimum(scale * jobseeker_profile, 0.8)
    school = np.select([age < 18, age < 22, age < 25, age < 30], [1.0, 0.85, 0.55, 0.12], 0.0)
    retired = np.select([age < 55, age < 60, age < 65], [0.0, 0.15, 0.5], 1.0)

    shares = np.zeros((N_CELLS + 1, N_STATES))
    not_working = 1 - work
    shares[cells, EMPLOYEE] = np.where(old, work * (1 - np_share_of_old_workers),
                                       work * (1 - self_share) * np.where(core, 1 - bb, 1))
    shares[cells, EMPLOYEE_BB] = np.where(core, work * (1 - self_share) * bb, 0)
    shares[cells, SELF] = np.where(young_or_core, work * self_share, 0)
    shares[cells, RETIRED_NP] = np.where(old, work * np_share_of_old_workers, 0)
    shares[cells, UNEMPLOYED] = not_working * unemployed
    rest = not_working * (1 - unemployed)
    shares[cells, SCHOOL] = rest * school
    shares[cells, RETIRED] = rest * (1 - school) * retired
    shares[cells, INACTIVE] = rest * (1 - school) * (1 - retired)
    shares[CROSS_BORDER_CELL, EMPLOYEE] = CROSS_BORDER_EMPLOYED
    shares[CROSS_BORDER_CELL, OUT] = 1 - CROSS_BORDER_EMPLOYED
    return shares
