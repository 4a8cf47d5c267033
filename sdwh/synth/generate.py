"""``generate``: the whole synthetic run, from population to delivery folders."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

from pydantic import BaseModel

from sdwh.errors import SdwhError
from sdwh.landing.periods import is_period, period_end, quarter_range
from sdwh.synth.defects import DefectRates
from sdwh.synth.deliveries import Plan, Progress, RunLog, Writer, send_quarterly, send_yearly
from sdwh.synth.employers import generate_employers
from sdwh.synth.labour_market import LabourMarket
from sdwh.synth.population import generate_population, municipality_weights

MAX_PERSONS = 15_000_000  # INSZ daily serials and self-employed KBO sequences run out above


class SynthSummary(BaseModel):
    out_dir: str
    persons: int
    first_quarter: str
    last_quarter: str
    seed: int
    deliveries_written: int
    deliveries_unchanged: int
    rows: dict[str, int]
    defects: dict[str, int]
    seconds: float


def check_arguments(persons: int, first_quarter: str, last_quarter: str) -> list[str]:
    """The quarters of the run, or an :class:`SdwhError` naming the bad argument."""
    if not 100 <= persons <= MAX_PERSONS:
        raise SdwhError(f"--persons must be between 100 and {MAX_PERSONS:,}, not {persons:,}.",
                        "Use e.g. --persons 100000 for a quick run, 6900000 for Flanders.")
    for name, q in (("--from", first_quarter), ("--to", last_quarter)):
        if not is_period(q, "quarter"):
            raise SdwhError(f"{name} must be a quarter like 2023Q1, not {q!r}.",
                            "Write the year, the letter Q and the quarter number.")
    quarters = quarter_range(first_quarter, last_quarter)
    if not quarters:
        raise SdwhError(f"--from {first_quarter} is after --to {last_quarter}.",
                        "Give the earlier quarter first.")
    if not 2000 <= int(first_quarter[:4]) <= 2030 or int(last_quarter[:4]) > 2030:
        raise SdwhError("quarters must lie between 2000 and 2030.",
                        "The code lists and the population reference (2025) cover that span.")
    return quarters


def generate(out_dir: Path, persons: int, first_quarter: str, last_quarter: str, seed: int,
             defects: DefectRates, progress: Progress | None = None,
             writers: int | None = None) -> SynthSummary:
    """Write every supplier's deliveries for the quarters ``first_quarter..last_quarter``
    into ``out_dir`` (the landing zone). Same arguments give byte-identical files, whatever
    the number of ``writers`` (processes formatting and writing files; default one per core).
    """
    started = time.perf_counter()
    quarters = check_arguments(persons, first_quarter, last_quarter)
    if seed < 0:
        raise SdwhError(f"--seed must be a non-negative integer, not {seed}.",
                        "Any number from 0 up will do; the same seed gives the same files.")
    out_dir.mkdir(parents=True, exist_ok=True)
    start = date(int(first_quarter[:4]), 1, 1)
    end = period_end(last_quarter, "quarter")
    pop = generate_population(persons, seed, start, end)
    employers = generate_employers(persons, seed, municipality_weights(seed))
    log = RunLog()
    with Writer(out_dir, seed, defects, log, progress, writers) as writer:
        send_yearly(writer, pop, list(range(start.year, end.year + 1)))
        lm = LabourMarket(pop, employers, seed)
        send_quarterly(writer, lm, quarters, Plan.draw(seed, quarters, defects))
    return SynthSummary(
        out_dir=str(out_dir), persons=persons, first_quarter=first_quarter,
        last_quarter=last_quarter, seed=seed, deliveries_written=log.written,
        deliveries_unchanged=log.skipped, rows=dict(sorted(log.rows.items())),
        defects={k: log.defects.get(k, 0) for k in DefectRates.model_fields},
        seconds=round(time.perf_counter() - started, 2),
    )


def deliveries_per_supplier(first_quarter: str, last_quarter: str) -> dict[str, int]:
    """How many deliveries each supplier sends (before re-sends), for progress bars."""
    quarters = quarter_range(first_quarter, last_quarter)
    years = int(last_quarter[:4]) - int(first_quarter[:4]) + 1
    nq = len(quarters)
    return {"rr": years, "ahovoks": years, "rsz": 2 * nq, "rsvz": nq, "rva": 3 * nq,
            "vdab": 3 * nq, "podmi": 3 * nq}
