"""The delivery schedule: which folders a run writes, their revisions, units and sent-at times.

Every supplier sends every period in the range: RR and AHOVOKS per year, RSZ and RSVZ per
quarter, RVA, VDAB and POD MI per month. ``sent_at`` is the period end plus a supplier-specific
lag drawn from the seed, so timeliness differs per supplier (RSZ sometimes beyond its due
date). RSZ DmfA quarters arrive as r1 (about 97 % of lines, about 1 % of wages still to be
corrected) and are replaced by a complete r2 about one quarter later.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import numpy as np

from sdwh.errors import SdwhError
from sdwh.landing.contracts import Contract, load_contracts
from sdwh.landing.periods import months_of_quarter, period_end
from sdwh.synth import tables
from sdwh.synth.defects import DefectRates, apply_row_defects
from sdwh.synth.files import to_table, write_delivery
from sdwh.synth.frames import Frame, take
from sdwh.synth.labour_market import LabourMarket
from sdwh.synth.population import Population
from sdwh.synth.streams import stream

#: Days between the end of the period and sending, as (low, high) ranges with weights.
LAGS: dict[str, list[tuple[float, int, int]]] = {
    "rr": [(1.0, 25, 35)],
    "rsz": [(0.85, 90, 118), (0.15, 121, 160)],
    "rsvz": [(1.0, 120, 180)],
    "rva": [(1.0, 30, 60)],
    "vdab": [(1.0, 10, 25)],
    "podmi": [(1.0, 60, 120)],
    "ahovoks": [(1.0, 150, 250)],
}
RSZ_FIRST_REVISION_SHARE = 0.97
RSZ_WAGES_CORRECTED = 0.01
RSZ_REVISION_LAG = (80, 100)
RESEND_LAG = (2, 6)

Progress = Callable[[str, Path], None]


@dataclass
class RunLog:
    """What a run wrote, for the summary."""

    written: int = 0
    skipped: int = 0
    rows: Counter[str] = field(default_factory=Counter)
    defects: Counter[str] = field(default_factory=Counter)


def sent_at(seed: int, supplier: str, period: str, granularity: str) -> datetime:
    rng = stream(seed, "lag", supplier, period)
    ranges = LAGS[supplier]
    pick = rng.choice(len(ranges), p=[w for w, _, _ in ranges])
    _, low, high = ranges[pick]
    days = int(rng.integers(low, high + 1))
    seconds = int(rng.integers(7 * 3600, 19 * 3600))
    day = period_end(period, granularity) + timedelta(days=days)
    return datetime.combine(day, time(), UTC) + timedelta(seconds=seconds)


@dataclass
class Plan:
    """Run-level choices of which deliveries carry a delivery defect."""

    rsz_eur_quarter: str | None
    podmi_keur_month: str | None
    rva_cents_month: str | None
    truncated_rva_month: str | None

    @classmethod
    def draw(cls, seed: int, quarters: list[str], rates: DefectRates) -> Plan:
        rng = stream(seed, "delivery-defects")
        months = [m for q in quarters for m in months_of_quarter(q)]
        cents = months[int(rng.integers(len(months)))]
        others = [m for m in months if m != cents] or months
        truncated = others[int(rng.integers(len(others)))]
        return cls(
            rsz_eur_quarter=quarters[int(rng.integers(len(quarters)))]
            if rates.rsz_quarter_in_eur else None,
            podmi_keur_month=months[int(rng.integers(len(months)))]
            if rates.podmi_month_in_keur else None,
            rva_cents_month=cents if rates.rva_month_in_cents_undeclared else None,
            truncated_rva_month=truncated if rates.truncated_files else None,
        )


@dataclass(frozen=True)
class _Job:
    """One delivery to write: everything a writer process needs, all picklable."""

    landing: Path
    seed: int
    rates: DefectRates
    key: str
    period: str
    frame: Frame
    revision: int
    when: datetime | None
    units: dict[str, str] | None
    note: str
    truncate_at: float | None
    declared: dict[str, str] | None


@dataclass(frozen=True)
class _Done:
    supplier: str
    key: str
    folder: Path
    rows: int
    skipped: bool
    defects: Counter[str]


def _write_job(job: _Job) -> _Done:
    """Apply row defects, format and write one delivery (runs in a writer process)."""
    contract: Contract = load_contracts()[job.key]
    rng = stream(job.seed, "row-defects", job.key, job.period, job.revision)
    defects: Counter[str] = Counter()
    frame = apply_row_defects(job.frame, contract, job.rates, rng, defects)
    units = job.units or {}
    table = to_table(frame, contract, units)
    header = {
        "supplier": contract.supplier, "dataset": contract.dataset,
        "reference_period": job.period, "revision": job.revision,
        "sent_at": job.when or sent_at(job.seed, contract.supplier, job.period,
                                       contract.period),
        "units": units if job.declared is None else job.declared, "note": job.note,
    }
    ext = "parquet" if contract.format == "parquet" else "csv"
    try:
        result = write_delivery(job.landing, header, f"{contract.dataset}_{job.period}.{ext}",
                                table, contract, job.truncate_at)
    except SdwhError as err:  # its hint would not survive pickling back to the parent
        raise _Failed(err.message, err.hint) from None
    return _Done(contract.supplier, job.key, result.folder, result.rows, result.skipped,
                 defects)


class _Failed(Exception):
    """An :class:`SdwhError` on its way back from a writer process."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message, hint)
        self.message, self.hint = message, hint


def writer_processes() -> int:
    """Writer processes beside the simulating parent: one per core, at most four."""
    return max(1, min(4, os.cpu_count() or 1))


class Writer:
    """Applies row defects, formats and writes deliveries, and logs them.

    Formatting and writing (half of synth's CPU) run in forked writer processes while the
    caller simulates the next period, so synth uses every core; a writer thread could not,
    as formatting holds the GIL much of the time. Fork, not spawn: a spawned process would
    re-import the CLI and its dependencies (seconds of CPU each). Each delivery draws from
    its own random stream and is written by one process into its own temporary folder, so
    the files do not depend on which process wrote them or when. At most ``4 * workers + 2``
    frames are in flight, enough for the simulation never to wait on the writers early in a
    run, and a bound on memory. Use it as a context manager: leaving it waits for every
    write and raises the first failure.
    """

    def __init__(self, landing: Path, seed: int, rates: DefectRates, log: RunLog,
                 progress: Progress | None, workers: int | None = None) -> None:
        self.landing, self.seed, self.rates, self.log = landing, seed, rates, log
        self.progress = progress
        workers = workers or writer_processes()
        self._pool = ProcessPoolExecutor(max_workers=workers,
                                         mp_context=multiprocessing.get_context("fork"))
        self._slots = threading.BoundedSemaphore(4 * workers + 2)
        self._lock = threading.Lock()
        self._futures: list[Future] = []

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=exc[0] is not None)
        if exc[0] is None:
            for future in self._futures:
                _result(future)

    def count(self, defect: str, n: int) -> None:
        """Count ``n`` occurrences of a delivery-level defect."""
        with self._lock:
            self.log.defects[defect] += n

    def send(self, key: str, period: str, frame: Frame, *, revision: int = 1,
             when: datetime | None = None, units: dict[str, str] | None = None,
             note: str = "", truncate_at: float | None = None,
             declared: dict[str, str] | None = None) -> None:
        """Queue one delivery. ``units`` is how amounts are written; ``declared`` what the
        manifest says (the same unless the supplier forgot)."""
        for future in self._futures:
            if future.done():
                _result(future)
        self._slots.acquire()
        job = _Job(self.landing, self.seed, self.rates, key, period, frame, revision, when,
                   units, note, truncate_at, declared)
        future = self._pool.submit(_write_job, job)
        future.add_done_callback(self._done)
        self._futures.append(future)

    def _done(self, future: Future) -> None:
        self._slots.release()
        if future.cancelled() or future.exception() is not None:
            return
        done: _Done = future.result()
        with self._lock:
            self.log.defects.update(done.defects)
            self.log.rows[done.key] += done.rows
            if done.skipped:
                self.log.skipped += 1
            else:
                self.log.written += 1
        if self.progress:
            self.progress(done.supplier, done.folder)


def _result(future: Future) -> None:
    try:
        future.result()
    except _Failed as err:
        raise SdwhError(err.message, err.hint) from None


def send_yearly(w: Writer, pop: Population, years: list[int]) -> None:
    for year in years:
        frame, premerger = tables.rr_population(pop, year, w.rates.premerger_refnis)
        w.count("premerger_refnis", premerger)
        w.send("rr__population", str(year), frame)
        w.send("ahovoks__qualifications", str(year),
               tables.ahovoks_qualifications(pop, year, w.seed))


def send_quarterly(w: Writer, lm: LabourMarket, quarters: list[str], plan: Plan) -> None:
    for q in lm.quarters(quarters):
        if q.quarter == quarters[0]:
            headcount = np.bincount(lm.employer[lm.employer >= 0], minlength=lm.employers.size)
            lm.employers.set_size_classes(headcount)
        _send_rsz(w, q.quarter, tables.rsz_lines(q), plan)
        w.send("rsvz__selfemployed", q.quarter, tables.rsvz_selfemployed(q))
        for k, month in enumerate(months_of_quarter(q.quarter)):
            _send_rva(w, month, tables.rva_benefits(q, k, w.seed), plan)
            frame, premerger = tables.vdab_jobseekers(q, k, w.rates.premerger_refnis)
            w.count("premerger_refnis", premerger)
            w.send("vdab__jobseekers", month, frame)
            frame, premerger = tables.podmi_social_integration(q, k, w.seed,
                                                               w.rates.premerger_refnis)
            w.count("premerger_refnis", premerger)
            if month == plan.podmi_keur_month:
                w.count("podmi_month_in_keur", 1)
                w.send("podmi__social_integration", month, frame, units={"amount": "keur"},
                       note="amounts in thousands of euros")
            else:
                w.send("podmi__social_integration", month, frame)


def _send_rsz(w: Writer, quarter: str, full: Frame, plan: Plan) -> None:
    rng = stream(w.seed, "rsz-revision", quarter)
    n = len(full["insz"])
    kept = np.flatnonzero(rng.random(n) < RSZ_FIRST_REVISION_SHARE)
    first = take(full, kept)
    wage = first["gross_wage"].copy()
    wrong = rng.random(len(kept)) < RSZ_WAGES_CORRECTED
    wage[wrong] = np.round(wage[wrong] * rng.uniform(0.8, 1.2, int(wrong.sum())))
    first["gross_wage"] = wage
    units = {"gross_wage": "eur"} if quarter == plan.rsz_eur_quarter else None
    if units:
        w.count("rsz_quarter_in_eur", 2)
    r1 = sent_at(w.seed, "rsz", quarter, "quarter")
    w.send("rsz__dmfa_employment_lines", quarter, first, when=r1, units=units)
    later = timedelta(days=int(rng.integers(*RSZ_REVISION_LAG)))
    w.send("rsz__dmfa_employment_lines", quarter, full, revision=2, when=r1 + later,
           units=units, note="revision: complete quarter, corrected wages")


def _send_rva(w: Writer, month: str, frame: Frame, plan: Plan) -> None:
    key = "rva__unemployment_benefits"
    if month == plan.rva_cents_month:
        w.count("rva_month_in_cents_undeclared", 1)
        w.send(key, month, frame, units={"amount": "cent"}, declared={})
    elif month == plan.truncated_rva_month:
        w.count("truncated_files", 1)
        first = sent_at(w.seed, "rva", month, "month")
        w.send(key, month, frame, when=first, truncate_at=0.6)
        resend = timedelta(days=int(stream(w.seed, "resend", month).integers(*RESEND_LAG)))
        w.send(key, month, frame, revision=2, when=first + resend,
               note="complete re-send of a truncated file")
    else:
        w.send(key, month, frame)
