"""Pure builders of each supplier dataset's rows for one reference period.

Each function takes the simulated population/labour market and returns a :data:`Frame` in the
contract's column order, in a deterministic row order (person order, then job line). Data
defects are not applied here (see :mod:`sdwh.synth.defects`), except the pre-merger REFNIS
codes, which depend on who lives where and are returned as a count.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sdwh.landing.periods import months_of_quarter, period_end
from sdwh.synth import seeds
from sdwh.synth.calibration import (
    EMPLOYEE,
    EMPLOYEE_BB,
    INACTIVE,
    RETIRED,
    RETIRED_NP,
    SELF,
    UNEMPLOYED,
)
from sdwh.synth.dates import day_number
from sdwh.synth.employers import EMPLOYER_KBO_RANGE
from sdwh.synth.frames import Cat, Frame, cat
from sdwh.synth.labour_market import Quarter
from sdwh.synth.numbers import kbo_numbers
from sdwh.synth.population import GRADUATION_AGE, Population
from sdwh.synth.streams import stream

SEX = ("M", "F")
AARD = ("HB", "BB", "NP")
NWWZ = ("00", "02", "03", "04")
WZW = ("WZUA", "BIT", "VNBA", "OVERIG")
BENEFITS = ("UVW_VT", "UVW_DT", "INSCH", "LBO", "VRIJ", "SWT")
FULL_QUARTER_DAYS = 65
#: Daily RVA benefit in euros by type (UVW types follow the former wage).
DAILY_BENEFIT = {"INSCH": 40.0, "LBO": 25.0, "VRIJ": 50.0, "SWT": 70.0}
#: Monthly leefloon in euros in 2025 by POD MI category 1/2/3 (indexed back ~2.5 %/year).
LEEFLOON_2025 = np.array([876.13, 1314.20, 1776.07])
INSCH_WAITING_DAYS = 365


def residence_codes(pop: Population, idx: np.ndarray, year: int,
                    premerger_rate: float) -> tuple[np.ndarray, int]:
    """REFNIS of residence in ``year``'s vintage; from 2025 some people in merged
    municipalities are still sent with their old code (a defect the landing harmonises)."""
    geo = seeds.geography()
    muni = pop.municipality[idx]
    if year < 2025:
        return geo.refnis_2024[muni], 0
    old = geo.merged[muni] & (pop.u_premerger[idx] < premerger_rate)
    return np.where(old, geo.refnis_2024[muni], geo.refnis_2025[muni]), int(old.sum())


def household_reference(pop: Population, idx: np.ndarray) -> np.ndarray:
    """INSZ of each person's household reference person: its oldest member present."""
    order = idx[np.lexsort((pop.birth[idx], pop.household[idx]))]
    hh = pop.household[order]
    first = np.r_[True, hh[1:] != hh[:-1]]
    ref_of_household = dict(zip(hh[first].tolist(), pop.insz[order][first].tolist(), strict=True))
    keys = np.fromiter(ref_of_household.keys(), dtype=np.int64)
    values = np.fromiter(ref_of_household.values(), dtype=np.int64)
    pos = np.searchsorted(keys, pop.household[idx])
    return values[pos]


def rr_population(pop: Population, year: int, premerger_rate: float) -> tuple[Frame, int]:
    on = date(year, 1, 1)
    idx = np.flatnonzero(pop.present_on(on))
    refnis, premerger = residence_codes(pop, idx, year, premerger_rate)
    civil = np.where(pop.age_on(on)[idx] < 18, 10, pop.civil_status[idx])
    father = pop.father_nationality[idx].astype(np.int32)
    mother = pop.mother_nationality[idx].astype(np.int32)
    frame: Frame = {
        "insz": pop.insz[idx],
        "birth_date": pop.birth[idx],
        "sex": cat(pop.sex[idx], SEX),
        "refnis_residence": refnis,
        "nationality_nis": pop.nationality[idx],
        "first_nationality_nis": pop.first_nationality[idx],
        "father_first_nationality_nis": np.where(father == 0, -1, father),
        "mother_first_nationality_nis": np.where(mother == 0, -1, mother),
        "civil_status": civil,
        "household_insz": household_reference(pop, idx),
    }
    return frame, premerger


def rsz_lines(q: Quarter) -> Frame:
    """DmfA lines of everyone employed at the quarter end (1 or 2 lines each)."""
    lm, emp = q.lm, q.lm.employers
    idx = np.flatnonzero(np.isin(q.state, [EMPLOYEE, EMPLOYEE_BB]))
    second = idx[lm.employer2[idx] >= 0]
    person = np.concatenate([idx, second])
    line = np.r_[np.zeros(len(idx), np.int8), np.ones(len(second), np.int8)]
    order = np.lexsort((line, person))
    person, line = person[order], line[order]
    employer = np.where(line == 0, lm.employer[person], lm.employer2[person])
    clash = (line == 1) & (employer == lm.employer[person])
    employer = np.where(clash, (employer + 1) % emp.size, employer)
    pct_total = lm.parttime_pct[person].astype(np.int32)
    first = np.minimum(np.round(pct_total * lm.first_line_share[person]).astype(np.int32),
                       np.where(lm.employer2[person] >= 0, pct_total - 1, pct_total))
    pct = np.where(line == 0, first, pct_total - first)
    cover = q.coverage[person]
    days = np.clip(np.round(FULL_QUARTER_DAYS * cover * pct / 100), 1, 92).astype(np.int32)
    wage = np.round(lm.monthly_wage[person] * 3 * cover * pct / 100 * 100).astype(np.int64)
    new_nace = q.end.year >= 2025
    return {
        "insz": lm.insz[person],
        "quarter": q.quarter,
        "employer_kbo": emp.kbo[employer],
        "rsz_employer_number": emp.rsz[employer],
        "local_unit_refnis": (seeds.geography().refnis_2025 if new_nace
                              else seeds.geography().refnis_2024)[emp.municipality[employer]],
        "local_unit_size_class": emp.size_class[employer],
        "nace_division": Cat((emp.nace_2025 if new_nace else emp.nace_2008)[employer],
                             tuple(seeds.nace_divisions()[1 if new_nace else 0])),
        "worker_class": lm.worker_class[person],
        "days": days,
        "parttime_pct": pct,
        "gross_wage": wage,
    }


def self_employed_kbo(person: np.ndarray) -> np.ndarray:
    """A person's own enterprise number: a bijection of the person index into the KBO
    sequences above the employers' range."""
    lo = EMPLOYER_KBO_RANGE[1]
    return kbo_numbers(lo + (person.astype(np.int64) * 7919 + 12345) % 15_000_000)


def rsvz_selfemployed(q: Quarter) -> Frame:
    lm = q.lm
    idx = np.flatnonzero(np.isin(q.state, [SELF, EMPLOYEE_BB, RETIRED_NP]))
    aard = np.select([q.state[idx] == SELF, q.state[idx] == EMPLOYEE_BB], [0, 1], 2)
    hoed = np.where(aard == 0, lm.hoedanigheid[idx], np.minimum(lm.hoedanigheid[idx], 2))
    return {
        "insz": lm.insz[idx],
        "quarter": q.quarter,
        "hoedanigheid": hoed,
        "aard": cat(aard, AARD),
        "kbo": self_employed_kbo(idx),
        "start_date": lm.self_start[idx],
    }


def month_state(q: Quarter, month: int) -> np.ndarray:
    """State at the end of month ``month`` (0..2) of the quarter."""
    changed = (q.state != q.previous) & (month < q.change_month)
    return np.where(changed, q.previous, q.state)


def _jobseeker_category(q: Quarter, idx: np.ndarray, end_day: int) -> np.ndarray:
    """NWWZ category; BIT youngsters past the waiting period count as WZUA (on INSCH)."""
    category = q.lm.category[idx]
    waited = end_day - q.lm.registered[idx] >= INSCH_WAITING_DAYS
    return np.where((category == 2) & waited, 0, category)


def vdab_jobseekers(q: Quarter, month: int, premerger_rate: float) -> tuple[Frame, int]:
    lm, pop = q.lm, q.lm.pop
    period = months_of_quarter(q.quarter)[month]
    end = period_end(period, "month")
    idx = np.flatnonzero(month_state(q, month)[: lm.residents] == UNEMPLOYED)
    category = _jobseeker_category(q, idx, day_number(end))
    cat_index = np.searchsorted([0, 2, 3, 4], category)
    former_inactive = (lm.u_flags[idx] * 10) % 1 < 0.9
    wzw = np.select([category == 0, category == 2, former_inactive], [0, 1, 2], 3)
    isced = pop.isced_on(end)[idx].astype(np.int32)
    isced = np.where((lm.u_flags[idx] * 100) % 1 < 0.02, -1, isced)
    refnis, premerger = residence_codes(pop, idx, end.year, premerger_rate)
    return {
        "insz": lm.insz[idx],
        "snapshot_date": np.full(len(idx), day_number(end), dtype=np.int32),
        "nwwz_category": cat(cat_index, NWWZ),
        "wzw_group": cat(wzw, WZW),
        "bemiddelingsstatus": lm.placement[idx],
        "registration_date": lm.registered[idx],
        "isced_level": isced,
        "refnis_residence": refnis,
    }, premerger


def rva_benefits(q: Quarter, month: int, seed: int) -> Frame:
    lm = q.lm
    period = months_of_quarter(q.quarter)[month]
    end = period_end(period, "month")
    state = month_state(q, month)[: lm.residents]
    age = lm.age(end)[: lm.residents]
    u = lm.u_flags[: lm.residents]
    unemployed = np.flatnonzero(state == UNEMPLOYED)
    category = _jobseeker_category(q, unemployed, day_number(end))
    young_waited = (lm.category[unemployed] == 2) & (category == 0)
    paid = unemployed[(category == 0)]
    types = np.where(young_waited[category == 0], 2,
                     np.where(lm.part_time[paid] & (u[paid] < 0.5), 1, 0))
    swt = np.flatnonzero((state == RETIRED) & (age >= 58) & (age < 65) & (u < 0.25))
    inactive = (state == INACTIVE) & (age >= 25) & (age < 60)
    lbo = np.flatnonzero(inactive & (u < 0.03))
    vrij = np.flatnonzero(inactive & (u >= 0.03) & (u < 0.04))
    person = np.concatenate([paid, lbo, vrij, swt])
    benefit = np.concatenate([types, np.full(len(lbo), 3), np.full(len(vrij), 4),
                              np.full(len(swt), 5)]).astype(np.int8)
    order = np.argsort(person, kind="stable")
    person, benefit = person[order], benefit[order]
    rng = stream(seed, "rva", period)
    partial = rng.random(len(person)) < 0.08
    days = np.where(partial, rng.integers(1, 26, len(person)), 26).astype(np.int32)
    uvw = np.clip(lm.monthly_wage[person] * 0.65 / 26, 45, 80)
    daily = np.select([benefit <= 1] + [benefit == BENEFITS.index(k) for k in DAILY_BENEFIT],
                      [uvw, *DAILY_BENEFIT.values()])
    return {
        "insz": lm.insz[person],
        "month": period,
        "benefit_type": cat(benefit, BENEFITS),
        "days_paid": days,
        "amount": np.round(daily * days * 100).astype(np.int64),
    }


def podmi_social_integration(q: Quarter, month: int, seed: int,
                             premerger_rate: float) -> tuple[Frame, int]:
    lm, pop = q.lm, q.lm.pop
    period = months_of_quarter(q.quarter)[month]
    end = period_end(period, "month")
    state = month_state(q, month)[: lm.residents]
    age = lm.age(end)[: lm.residents]
    u2 = (lm.u_flags[: lm.residents] * 7919) % 1
    on_leefloon = ((state == UNEMPLOYED) & (lm.category[: lm.residents] == 4) & (u2 < 0.6)) | (
        (state == INACTIVE) & (age >= 18) & (age < 65) & (u2 < lm.leefloon_inactive))
    idx = np.flatnonzero(on_leefloon)
    size = np.bincount(pop.household)
    has_children = np.bincount(pop.household, weights=pop.age_on(end) < 18) > 0
    hh = pop.household[idx]
    category = np.select([has_children[hh], size[hh] == 1], [2, 1], 0)
    rng = stream(seed, "podmi", period)
    fraction = np.where(rng.random(len(idx)) < 0.1, rng.uniform(0.2, 1.0, len(idx)), 1.0)
    index = 1.025 ** (end.year - 2025)
    amount = np.round(LEEFLOON_2025[category] * index * fraction * 100).astype(np.int64)
    refnis, premerger = residence_codes(pop, idx, end.year, premerger_rate)
    return {
        "insz": pop.insz[idx],
        "month": period,
        "category": category + 1,
        "ocmw_refnis": refnis,
        "amount": amount,
    }, premerger


def ahovoks_qualifications(pop: Population, year: int, seed: int) -> Frame:
    """Qualifications awarded in ``year``: each level on the way to a person's final level,
    at its usual graduation age."""
    rng = stream(seed, "ahovoks", year)
    present = pop.present_on(date(year, 7, 1))
    final = pop.isced_final
    age_then = year - pop.birth_y
    steps = {2: final == 2, 3: final >= 3, 4: final == 4, 6: final >= 6, 7: final >= 7}
    steps.update({5: final == 5, 8: final == 8})
    person_parts, level_parts = [], []
    for level, reaches in steps.items():
        idx = np.flatnonzero(present & reaches & (age_then == GRADUATION_AGE[level]))
        person_parts.append(idx)
        level_parts.append(np.full(len(idx), level, dtype=np.int32))
    person = np.concatenate(person_parts)
    level = np.concatenate(level_parts)
    order = np.lexsort((level, person))
    person, level = person[order], level[order]
    n = len(person)
    school = level <= 4
    start = np.where(school, day_number(date(year, 6, 20)), day_number(date(year, 7, 1)))
    spread = np.where(school, 11, 92)
    award = start + (rng.random(n) * spread).astype(np.int32)
    qualification = level * 100_000 + rng.integers(1, 150, n)
    institution = np.where(school, 100_000 + rng.integers(0, 900, n),
                           900_000 + rng.integers(0, 40, n))
    return {
        "insz": pop.insz[person],
        "qualification_id": _text(qualification, 6, "Q"),
        "isced_level": level,
        "award_date": award.astype(np.int32),
        "institution_id": _text(institution, 6),
    }


def _text(numbers: np.ndarray, width: int, prefix: str = "") -> pa.Array:
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "") if prefix else digits
