"""Synthetic LFS-like responses to a drawn sample, for the embedded default.

Realistic in the two ways that matter for linkage and weighting: households respond with a
probability that rises with the age of their members (young, mobile households answer least,
as in the EAK/LFS), so response differs by stratum; and the survey's ILO status differs from the
administrative position (informal work, people registered as jobseekers who did not search in
the reference week, students with small jobs). The delivery carries the INSZ the survey
organisation received (``statbel__lfs_responses``) or, with ``keyed_by="sample_key"``, only the
sample id and sample keys of the contact file (``statbel__lfs_responses_by_key``); either way
it lands through `sdwh ingest`. Both forms draw the same respondents and answers for a seed.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, time, timedelta
from typing import Literal

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from sdwh.config import Settings
from sdwh.errors import SdwhError
from sdwh.landing.contracts import load_contracts
from sdwh.landing.periods import period_end
from sdwh.sampling.draw import samples_dir
from sdwh.synth.files import write_delivery

#: P(survey ILO status | administrative position): rows working, NWWZ-unemployed, other.
ILO_GIVEN_ADMIN = {
    "working": (0.95, 0.02, 0.03),
    "unemployed": (0.10, 0.68, 0.22),
    "other": (0.04, 0.03, 0.93),
}


def _positions(settings: Settings, person_ids: list[str], quarter: str) -> pd.DataFrame:
    with duckdb.connect(str(settings.root / "warehouse" / "sdwh.duckdb"), read_only=True) as con:
        con.register("wanted", pa.table({"person_id": person_ids}))
        return con.execute(
            "select person_id, age, coalesce(is_working, false) as working, "
            "coalesce(is_unemployed, false) as unemployed, "
            "coalesce(is_parttime_employee, false) as parttime "
            "from integrated.int_person_quarter where quarter = ? "
            "and person_id in (select person_id from wanted)", [quarter]).df()


KeyedBy = Literal["insz", "sample_key"]
#: The dataset (contract) each form of delivery is sent as.
DATASETS: dict[str, str] = {"insz": "lfs_responses", "sample_key": "lfs_responses_by_key"}


def simulate_responses(settings: Settings, sample_id: str, seed: int,
                       keyed_by: KeyedBy = "insz") -> dict:
    """Write the survey organisation's response delivery for ``sample_id`` to the landing zone."""
    folder = samples_dir(settings) / sample_id
    if not (folder / "link.parquet").exists():
        raise SdwhError(f"no sample {sample_id}", "Draw one first with `sdwh sample draw`.")
    link = pd.read_parquet(folder / "link.parquet")
    contact = pd.read_csv(folder / "outbox" / "contact.csv", dtype=str)
    if keyed_by == "insz" and "insz" not in contact:
        raise SdwhError(f"the contact file of {sample_id} has no INSZ",
                        "Add insz to contact_fields, or deliver by sample key "
                        "(--keyed-by sample_key).")
    quarter = str(pd.read_json(folder / "summary.json", typ="series")["reference_quarter"])
    contact_columns = ["sample_key", "insz"] if keyed_by == "insz" else ["sample_key"]
    people = link.merge(contact[contact_columns], on="sample_key").merge(
        _positions(settings, link["person_id"].tolist(), quarter), on="person_id")
    rng = np.random.Generator(np.random.PCG64(
        int.from_bytes(hashlib.sha256(f"{seed}|{sample_id}".encode()).digest()[:8], "big")))
    people = people.sort_values("sample_key").reset_index(drop=True)
    people["propensity"] = np.clip(0.45 + 0.006 * (people["age"] - 15), 0.4, 0.85)
    households = people.groupby("household_key", sort=True)["propensity"].mean()
    responding = households.index[rng.random(len(households)) < households.to_numpy()]
    answers = people[people["household_key"].isin(responding)].reset_index(drop=True)
    admin = np.where(answers["working"], "working",
                     np.where(answers["unemployed"], "unemployed", "other"))
    draws = rng.random(len(answers))
    status = np.array([_status(a, u) for a, u in zip(admin, draws, strict=True)])
    full_time = rng.integers(36, 41, len(answers))
    part_time = rng.integers(12, 31, len(answers))
    hours = np.where(answers["parttime"], part_time, full_time)
    end = period_end(quarter, "quarter")
    start = end - timedelta(days=90)
    interview = [start + timedelta(days=int(d)) for d in rng.integers(0, 90, len(answers))]
    keys = ({"insz": answers["insz"].astype(str).tolist()} if keyed_by == "insz" else
            {"sample_id": [sample_id] * len(answers),
             "sample_key": answers["sample_key"].astype(str).tolist()})
    table = pa.table({
        **keys,
        "quarter": [quarter] * len(answers),
        "interview_date": [d.isoformat() for d in interview],
        "ilo_status": status.tolist(),
        "usual_weekly_hours": [str(h) if s == "1" else "" for h, s in
                               zip(hours, status, strict=True)],
    })
    dataset = DATASETS[keyed_by]
    contract = load_contracts()[f"statbel__{dataset}"]
    sent = datetime.combine(end + timedelta(days=int(rng.integers(30, 55))), time(10), UTC)
    header = {"supplier": "statbel", "dataset": dataset, "reference_period": quarter,
              "revision": 1, "sent_at": sent, "units": {},
              "note": f"responses to TTP sample {sample_id}"}
    written = write_delivery(settings.landing_dir, header, f"{dataset}_{quarter}.csv",
                             table, contract)
    return {"sample_id": sample_id, "quarter": quarter, "keyed_by": keyed_by,
            "dataset": dataset, "persons_sampled": len(people),
            "households_sampled": int(households.size),
            "households_responding": len(responding), "responses": table.num_rows,
            "delivery": str(written.folder), "already_there": written.skipped}


def _status(admin: str, draw: float) -> str:
    employed, unemployed, _ = ILO_GIVEN_ADMIN[admin]
    if draw < employed:
        return "1"
    return "2" if draw < employed + unemployed else "3"
