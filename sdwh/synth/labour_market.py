"""Labour-market states per person per quarter, simulated one quarter at a time.

Each quarter a person keeps their state, or with a state-specific exit rate draws a new one
from the calibrated cell shares re-weighted by exit rates (so the calibrated shares stay the
stationary distribution): work <-> unemployment, into inactivity, school-to-work as people
age. Jobs (employer, second job, part-time, wage), jobseeker spells and self-employment
carry over between quarters. Cross-border workers (BIS numbers, not in the register) are
extra persons after the residents. Pure generation: :meth:`LabourMarket.quarters` yields a
:class:`Quarter` view that deliveries turn into files before the next quarter is computed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import numpy as np

from sdwh.landing.periods import period_end
from sdwh.synth import calibration as cal
from sdwh.synth.calibration import (
    EMPLOYEE,
    EMPLOYEE_BB,
    INACTIVE,
    N_STATES,
    OUT,
    RETIRED,
    RETIRED_NP,
    SCHOOL,
    SELF,
    UNEMPLOYED,
)
from sdwh.synth.dates import age_on, day_number, parts
from sdwh.synth.employers import Employers
from sdwh.synth.numbers import insz_numbers
from sdwh.synth.population import REFERENCE, Population, _serials
from sdwh.synth.streams import stream

#: Probability per quarter of leaving each state (redrawing from the cell shares).
EXIT_RATE = np.array([1.0, 0.12, 0.05, 0.05, 0.03, 0.28, 0.08, 0.01, 0.06])
JOB_TO_JOB = 0.03
SECOND_JOB = 0.08
PART_TIME = {0: 0.135, 1: 0.43}  # men, women (share of employees)
PART_TIME_PCT = (np.array([20, 40, 50, 60, 75, 80]), np.array([0.07, 0.08, 0.35, 0.1, 0.1, 0.3]))
CROSS_BORDER_SHARE = 0.02  # of RSZ workers
# NWWZ categories drawn when a spell starts: 00 WZUA, 02 BIT, 03 VRIJ, 04 ANDERE_VERPLICHT.
JOBSEEKER_CATEGORY = (np.array([0, 2, 3, 4]), np.array([0.51, 0.04, 0.25, 0.20]))
PLACEMENT_STATUS = (np.array([1, 2, 3]), np.array([0.79, 0.13, 0.08]))
LEEFLOON_SHARE = 0.0055


@dataclass
class Quarter:
    """Everything the deliveries of one quarter need; arrays are indexed by person."""

    quarter: str
    end: date
    state: np.ndarray  # int8 at quarter end
    previous: np.ndarray  # int8 at the previous quarter end (OUT before the first)
    change_month: np.ndarray  # int8 0..2: month of the quarter a change of state happened
    coverage: np.ndarray  # float32 share of the quarter worked in the current job
    lm: LabourMarket


class LabourMarket:
    """Mutable person attributes plus the chain that moves them from quarter to quarter."""

    def __init__(self, pop: Population, employers: Employers, seed: int) -> None:
        self.pop, self.employers, self.seed = pop, employers, seed
        rng = stream(seed, "labour-market", "static")
        present = pop.present_on(REFERENCE)
        age = pop.age_on(REFERENCE)
        educ = cal.education3(pop.isced_on(REFERENCE))
        counts = np.bincount(cal.cell_index(pop.sex, age, educ)[present],
                             minlength=cal.N_CELLS)
        self.shares = cal.state_shares(counts)
        weighted = self.shares * EXIT_RATE
        self.redraw_cum = np.cumsum(weighted / weighted.sum(1, keepdims=True), axis=1)
        self.initial_cum = np.cumsum(self.shares, axis=1)
        self.work_share = self.shares[:, list(cal.WORKING)].sum(1)
        self.into_work_cum, self.out_of_work_cum = _split_by_work(self.shares)
        expected_employees = (counts * self.shares[:-1, [EMPLOYEE, EMPLOYEE_BB]].sum(1)).sum()
        n_cross = round(float(CROSS_BORDER_SHARE / (1 - CROSS_BORDER_SHARE)
                              * expected_employees / cal.CROSS_BORDER_EMPLOYED))
        self.residents = pop.size
        self._add_cross_border(rng, n_cross)
        n = self.size
        self.part_time = rng.random(n) < np.where(self.sex == 1, PART_TIME[1], PART_TIME[0])
        pct = PART_TIME_PCT[0][rng.choice(len(PART_TIME_PCT[0]), n, p=PART_TIME_PCT[1])]
        self.parttime_pct = np.where(self.part_time, pct, 100).astype(np.int8)
        educ_all = cal.education3(self.isced_final)
        median = np.array([3000.0, 3600.0, 4800.0])[educ_all] * np.where(self.sex == 1, 0.93, 1)
        self.monthly_wage = (median * rng.lognormal(0, 0.25, n)).astype(np.float32)
        self.employer = np.full(n, -1, dtype=np.int32)
        self.employer2 = np.full(n, -1, dtype=np.int32)
        self.first_line_share = np.full(n, 1.0, dtype=np.float32)
        self.worker_class = np.zeros(n, dtype=np.int8)
        self.category = np.zeros(n, dtype=np.int8)
        self.placement = np.ones(n, dtype=np.int8)
        self.registered = np.zeros(n, dtype=np.int32)
        self.benefit = np.zeros(n, dtype=np.int8)  # index into benefit codes, see tables
        self.self_start = np.zeros(n, dtype=np.int32)
        self.hoedanigheid = np.where(rng.random(n) < 0.05, 2, 1).astype(np.int8)
        self.hoedanigheid[(self.sex == 1) & (rng.random(n) < 0.12)] = 4
        self.u_flags = rng.random(n, dtype=np.float32)  # SWT/LBO/VRIJ/leefloon propensity
        self.leefloon_inactive = 0.0

    @property
    def size(self) -> int:
        return len(self.sex)

    def _add_cross_border(self, rng: np.random.Generator, m: int) -> None:
        pop = self.pop
        age = rng.integers(22, 61, m)
        birth = (day_number(REFERENCE) - age * 365.25 - rng.integers(1, 366, m)).astype(np.int32)
        y, mo, d = parts(birth)
        sex = (rng.random(m) < 0.35).astype(np.int8)
        offset = np.where(rng.random(m) < 0.9, 40, 20)
        serial = _serials(rng, birth * 2 + (offset == 40), sex)
        self.sex = np.concatenate([pop.sex, sex])
        self.birth_y = np.concatenate([pop.birth_y, y])
        self.birth_md = np.concatenate([pop.birth_md, mo * 100 + d])
        self.insz = np.concatenate([pop.insz, insz_numbers(y, mo, d, serial, offset)])
        isced = rng.choice([2, 3, 6], m).astype(np.int8)
        self.isced_final = np.concatenate([pop.isced_final, isced])

    def cells(self, on: date) -> np.ndarray:
        age = age_on(self.birth_y, self.birth_md, on)
        isced = np.concatenate([self.pop.isced_on(on), self.isced_final[self.residents:]])
        cell = cal.cell_index(self.sex, age, cal.education3(isced))
        cell[self.residents:] = cal.CROSS_BORDER_CELL
        return cell

    def present(self, on: date) -> np.ndarray:
        return np.concatenate([self.pop.present_on(on), np.ones(self.size - self.residents, bool)])

    def age(self, on: date) -> np.ndarray:
        return age_on(self.birth_y, self.birth_md, on)

    def quarters(self, quarters: list[str]) -> Iterator[Quarter]:
        state = np.zeros(self.size, dtype=np.int8)
        for i, q in enumerate(quarters):
            rng = stream(self.seed, "labour-market", q)
            end = period_end(q, "quarter")
            previous = state
            cell = self.cells(end)
            draw = rng.random(self.size)
            if i == 0:
                state = _categorical(self.initial_cum, cell, draw)
            else:
                leave = (rng.random(self.size) < EXIT_RATE[previous]) | (previous == OUT)
                fresh = _categorical(self.redraw_cum, cell, draw)
                first = _categorical(self.initial_cum, cell, draw)
                state = np.where(previous == OUT, first, np.where(leave, fresh, previous))
                state = self._rebalance(rng, state, cell)
            age = self.age(end)
            state = np.where((age >= 67) & np.isin(state, [EMPLOYEE, EMPLOYEE_BB, UNEMPLOYED]),
                             RETIRED, state)
            state = np.where((age >= 67) & (state == SELF), RETIRED_NP, state)
            state = np.where(age < 15, SCHOOL, state)
            state = np.where(self.present(end), state, OUT).astype(np.int8)
            change = np.where(state != previous, rng.integers(0, 3, self.size), 0).astype(np.int8)
            coverage = self._update_jobs(rng, state, previous, change)
            self._update_spells(rng, state, previous, change, end, age, i == 0)
            if i == 0:
                self._calibrate_leefloon(state, age)
            yield Quarter(q, end, state, previous, change, coverage, self)

    def _rebalance(self, rng: np.random.Generator, state: np.ndarray,
                   cell: np.ndarray) -> np.ndarray:
        """Move persons into or out of work so each cell keeps its calibrated working share.

        People age into older cells carrying their state along; with slow exit rates the
        working share of older cells would drift up quarter after quarter (55-64: 61 % after
        one year, 69 % after four). Flipping the excess (or the shortfall) at random, with the
        new state drawn from the cell's other side, keeps the calibrated shares over any span.
        """
        working = np.isin(state, cal.WORKING)
        live = (state != OUT) & (cell != cal.CROSS_BORDER_CELL)
        n = np.bincount(cell[live], minlength=cal.N_CELLS + 1).astype(float)
        k = np.bincount(cell[live & working], minlength=cal.N_CELLS + 1).astype(float)
        excess = k - self.work_share * n
        p_out = np.where(k > 0, np.clip(excess / np.maximum(k, 1), 0, 1), 0)
        p_in = np.where(n > k, np.clip(-excess / np.maximum(n - k, 1), 0, 1), 0)
        u = rng.random(self.size)
        leave = live & working & (u < p_out[cell])
        enter = live & ~working & (u < p_in[cell])
        draw = rng.random(self.size)
        state = state.copy()
        for flip, cum in ((leave, self.out_of_work_cum), (enter, self.into_work_cum)):
            idx = np.flatnonzero(flip)
            state[idx] = _categorical(cum, cell[idx], draw[idx])
        return state

    def _update_jobs(self, rng: np.random.Generator, state: np.ndarray, previous: np.ndarray,
                     change: np.ndarray) -> np.ndarray:
        employed = np.isin(state, [EMPLOYEE, EMPLOYEE_BB])
        was = np.isin(previous, [EMPLOYEE, EMPLOYEE_BB])
        new = employed & (~was | (rng.random(self.size) < JOB_TO_JOB))
        idx = np.flatnonzero(new)
        self.employer[idx] = self.employers.draw(rng, len(idx))
        two = rng.random(len(idx)) < SECOND_JOB
        self.employer2[idx] = np.where(two, self.employers.draw(rng, len(idx)), -1)
        self.first_line_share[idx] = np.where(two, rng.choice([0.5, 0.6, 0.8], len(idx)), 1.0)
        educ = cal.education3(self.isced_final[idx])
        blue = rng.random(len(idx)) < np.array([0.6, 0.4, 0.1])[educ]
        klass = np.where(blue, 1, 2)
        klass = np.where(self.employers.public[self.employer[idx]]
                         & (rng.random(len(idx)) < 0.6), 3, klass)
        klass = np.where(blue & (rng.random(len(idx)) < 0.03), 4, klass)
        self.worker_class[idx] = klass
        self.employer[~employed] = -1
        self.employer2[~employed] = -1
        coverage = np.ones(self.size, dtype=np.float32)
        entered = employed & ~was
        coverage[entered] = (3 - change[entered]) / 3 - rng.random(int(entered.sum())) * 0.3
        return np.clip(coverage, 0.05, 1.0)

    def _update_spells(self, rng: np.random.Generator, state: np.ndarray, previous: np.ndarray,
                       change: np.ndarray, end: date, age: np.ndarray, first: bool) -> None:
        quarter_start = day_number(end) - 90
        entry_day = quarter_start + change.astype(np.int32) * 30 + rng.integers(0, 30, self.size)
        # Jobseeker spells.
        new = (state == UNEMPLOYED) & (previous != UNEMPLOYED)
        idx = np.flatnonzero(new)
        young = age[idx] < 26
        cats, p = JOBSEEKER_CATEGORY
        young_share = max(young.mean() if len(idx) else 0.2, 0.05)
        p_bit = min(p[1] / young_share, 0.8)
        category = cats[rng.choice(4, len(idx), p=p)]
        category = np.where(category == 2, 0, category)  # BIT only for the young
        category = np.where(young & (rng.random(len(idx)) < p_bit), 2, category)
        self.category[idx] = category
        self.placement[idx] = PLACEMENT_STATUS[0][rng.choice(3, len(idx), p=PLACEMENT_STATUS[1])]
        back = rng.exponential(300, len(idx)).astype(np.int32) if first else 0
        self.registered[idx] = entry_day[idx] - back
        # Self-employment start dates.
        self_states = [SELF, EMPLOYEE_BB, RETIRED_NP]
        started = np.isin(state, self_states) & ~np.isin(previous, self_states)
        idx = np.flatnonzero(started)
        back = (rng.exponential(8 * 365, len(idx)).astype(np.int32) if first
                else np.zeros(len(idx), np.int32))
        adult = day_number(date(1950, 1, 1)) + 0 * idx
        self.self_start[idx] = np.maximum(entry_day[idx] - back, adult)

    def _calibrate_leefloon(self, state: np.ndarray, age: np.ndarray) -> None:
        """Choose the share of inactive 18-64 on leefloon so the total is ~0.55 %."""
        present = state != OUT
        residents = present[: self.residents].sum()
        from_jobseekers = ((state == UNEMPLOYED) & (self.category == 4)).sum() * 0.6
        inactive = ((state == INACTIVE) & (age >= 18) & (age < 65)).sum()
        self.leefloon_inactive = float(np.clip(
            (LEEFLOON_SHARE * residents - from_jobseekers) / max(inactive, 1), 0, 0.5))


def _split_by_work(shares: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative shares per cell restricted to the working states and to the others."""
    in_work = np.zeros(N_STATES, bool)
    in_work[list(cal.WORKING)] = True
    halves = []
    for keep in (in_work, ~in_work):
        part = np.where(keep, shares, 0)
        total = part.sum(1, keepdims=True)
        part = np.where(total > 0, part / np.where(total > 0, total, 1), keep / keep.sum())
        halves.append(np.cumsum(part, axis=1))
    return halves[0], halves[1]


def _categorical(cum: np.ndarray, cell: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One categorical draw per person from the cumulative shares of their cell, in blocks
    so the temporary (rows x states) array stays small."""
    out = np.empty(len(cell), dtype=np.int8)
    block = 1 << 20
    for s in range(0, len(cell), block):
        c = cum[cell[s:s + block]]
        out[s:s + block] = np.minimum((u[s:s + block, None] > c).sum(axis=1), N_STATES - 1)
    return out


__all__ = ["INACTIVE", "RETIRED", "SCHOOL", "LabourMarket", "Quarter"]
