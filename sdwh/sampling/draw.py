"""Draw a sample from the frame and store it at the TTP: link file, contact file, summary.

The link between sample keys and pseudonyms (``link.parquet``) never leaves the TTP folder;
the survey organisation receives only ``outbox/contact.csv`` with the contact fields the
design allows. A sample appears whole or not at all (temporary folder, then rename), and the
same design, seed and frame give byte-identical files.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sdwh.config import Settings
from sdwh.deliveries.register import open_register
from sdwh.errors import SdwhError
from sdwh.sampling.allocation import allocate
from sdwh.sampling.design import AUXILIARY, STRATUM_COLUMNS, SampleDesign
from sdwh.sampling.frame import read_frame
from sdwh.sampling.selection import select_units
from sdwh.ttp.keys import ttp_key
from sdwh.ttp.pseudonym import hmac_sql


@dataclass(frozen=True)
class Units:
    """Sampling units (persons or households) in a fixed order, with stratum and auxiliary."""

    keys: np.ndarray
    stratum: np.ndarray
    labels: list[str]
    auxiliary: np.ndarray


def samples_dir(settings: Settings) -> Path:
    return settings.root / "ttp" / "samples"


def sampling_units(frame: pd.DataFrame, design: SampleDesign) -> Units:
    """Persons, or households whose stratum is their first member's (same for all members)."""
    columns = [STRATUM_COLUMNS[s] for s in design.strata]
    aux_column = AUXILIARY.get(design.neyman_variable or "", "is_working")
    unit_key = "household_id" if design.cluster == "household" else "person_id"
    units = (frame.groupby(unit_key, sort=True)
             .agg(**{c: (c, "first") for c in columns}, aux=(aux_column, "sum"))
             .reset_index())
    label = units[columns].astype(str).agg(" × ".join, axis=1)
    labels = sorted(label.unique())
    stratum = label.map({v: i for i, v in enumerate(labels)}).to_numpy()
    return Units(units[unit_key].to_numpy(), stratum, labels, units["aux"].to_numpy(float))


def sample_id_for(design: SampleDesign, seed: int, frame: pd.DataFrame) -> str:
    """Name plus a digest of design, seed and frame: a new frame or seed gives a new id."""
    digest = hashlib.sha256(design.model_dump_json().encode())
    digest.update(str(seed).encode())
    digest.update(pd.util.hash_pandas_object(frame[["person_id", "household_id"]],
                                             index=False).to_numpy().tobytes())
    return f"{design.name}-{digest.hexdigest()[:8]}"


def _key(secret: bytes, sample_id: str, kind: str, value: str) -> str:
    """A sample key: keyed by the TTP secret, so nobody else can map it to a pseudonym."""
    mac = hmac.new(secret, f"{sample_id}|{kind}|{value}".encode(), hashlib.sha256)
    return mac.hexdigest()[:12].upper()


def draw_sample(settings: Settings, design: SampleDesign, seed: int) -> dict[str, Any]:
    """Draw, store and describe a sample; returns the summary (also written as summary.json)."""
    frame = read_frame(settings.root / "warehouse" / "sdwh.duckdb", design)
    units = sampling_units(frame, design)
    population = np.bincount(units.stratum, minlength=len(units.labels))
    spread = np.array([units.auxiliary[units.stratum == h].std(ddof=1)
                       if population[h] > 1 else 0.0 for h in range(len(units.labels))])
    try:
        sizes = allocate(population, design.sample_size, design.allocation, spread,
                         design.min_per_stratum)
    except ValueError as exc:
        raise SdwhError(f"the design cannot be allocated: {exc}",
                        "Lower min_per_stratum or use fewer strata.") from None
    chosen = select_units(units.stratum, dict(enumerate(sizes.tolist())), seed)
    sample_id = sample_id_for(design, seed, frame)
    link = _link_table(frame, design, units, chosen, sample_id, ttp_key(settings))
    folder = samples_dir(settings) / sample_id
    summary = _summary(design, seed, sample_id, units, population, sizes, spread, link)
    if folder.exists():
        return json.loads((folder / "summary.json").read_text())
    contact = _contact_table(settings, design, link)
    _write_atomically(folder, design, link, contact, summary)
    return summary


def _link_table(frame: pd.DataFrame, design: SampleDesign, units: Units, chosen: Any,
                sample_id: str, secret: bytes) -> pd.DataFrame:
    unit_key = "household_id" if design.cluster == "household" else "person_id"
    picked = pd.DataFrame({unit_key: units.keys[chosen.units],
                           "stratum": [units.labels[h] for h in units.stratum[chosen.units]],
                           "inclusion_probability": chosen.probability})
    link = frame.merge(picked, on=unit_key, how="inner").sort_values("person_id")
    link["sample_key"] = [_key(secret, sample_id, "p", v) for v in link["person_id"]]
    link["household_key"] = [_key(secret, sample_id, "h", v) for v in link["household_id"]]
    link["design_weight"] = 1.0 / link["inclusion_probability"]
    link["sample_id"] = sample_id
    return link[["sample_id", "sample_key", "household_key", "person_id", "stratum",
                 "inclusion_probability", "design_weight", "sex_code", "age_band",
                 "municipality_refnis", "province_refnis", "birth_year",
                 "register_year"]].reset_index(drop=True)


def _contact_table(settings: Settings, design: SampleDesign, link: pd.DataFrame) -> pd.DataFrame:
    """Contact fields for the survey organisation; INSZ re-found in the register delivery."""
    contact = pd.DataFrame({"sample_key": link["sample_key"]})
    if "household_key" in design.contact_fields:
        contact["household_key"] = link["household_key"]
    if "municipality_refnis" in design.contact_fields:
        contact["municipality_refnis"] = link["municipality_refnis"]
    if "sex" in design.contact_fields:
        contact["sex"] = link["sex_code"]
    if "birth_year" in design.contact_fields:
        contact["birth_year"] = link["birth_year"]
    if "insz" in design.contact_fields:
        year = int(link["register_year"].iloc[0]) if len(link) else 0
        insz = _insz_of(settings, str(year), link["person_id"].tolist())
        contact["insz"] = link["person_id"].map(insz)
        missing = int(contact["insz"].isna().sum())
        if missing:
            raise SdwhError(f"{missing} sampled persons were not found in the {year} register "
                            "delivery in the landing zone",
                            "Keep the landing zone's register deliveries until samples are "
                            "drawn (docs/survey-services.md).")
    return contact


def _insz_of(settings: Settings, year: str, person_ids: list[str]) -> dict[str, str]:
    """Map pseudonyms back to INSZ by re-pseudonymising the register delivery (TTP only)."""
    with open_register(settings.register_path) as reg:
        row = reg.execute(
            "SELECT landing_path FROM deliveries WHERE supplier = 'rr' AND dataset = "
            "'population' AND reference_period = ? AND status = 'accepted'", (year,)).fetchone()
    if row is None:
        raise SdwhError(f"no accepted register delivery for {year}",
                        "Ingest the Rijksregister snapshot of the sample's year first.")
    manifest = json.loads((Path(row["landing_path"]) / "manifest.json").read_text())
    data = Path(row["landing_path"]) / manifest["files"][0]["name"]
    con = duckdb.connect()
    try:
        con.register("wanted", pa.table({"person_id": person_ids}))
        found = con.execute(
            f"select {hmac_sql('insz', ttp_key(settings))} as person_id, insz "
            "from read_csv(?, delim='|', header=true, all_varchar=true) "
            f"where {hmac_sql('insz', ttp_key(settings))} in (select person_id from wanted)",
            [str(data)]).fetchall()
    except duckdb.Error:
        raise SdwhError(f"the register delivery {data} could not be read",
                        "Check that the landing zone is intact.") from None
    finally:
        con.close()
    return dict(found)


def _summary(design: SampleDesign, seed: int, sample_id: str, units: Units,
             population: np.ndarray, sizes: np.ndarray, spread: np.ndarray,
             link: pd.DataFrame) -> dict[str, Any]:
    return {
        "sample_id": sample_id, "design": design.name, "seed": seed,
        "reference_quarter": design.reference_quarter, "allocation": design.allocation,
        "cluster": design.cluster, "units_in_frame": int(population.sum()),
        "units_sampled": int(sizes.sum()), "persons_sampled": len(link),
        "estimated_population": round(float(link["design_weight"].sum()), 6),
        "strata": [{"stratum": label, "units": int(n_pop), "sampled": int(n),
                    "aux_sd": round(float(sd), 6)}
                   for label, n_pop, n, sd in zip(units.labels, population, sizes, spread,
                                                  strict=True)],
    }


def _write_atomically(folder: Path, design: SampleDesign, link: pd.DataFrame,
                      contact: pd.DataFrame, summary: dict[str, Any]) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "outbox").mkdir(parents=True, mode=0o700)
    os.chmod(tmp, 0o700)
    pq.write_table(pa.Table.from_pandas(link, preserve_index=False), tmp / "link.parquet",
                   compression="zstd")
    contact.to_csv(tmp / "outbox" / "contact.csv", index=False, lineterminator="\n")
    (tmp / "design.json").write_text(design.model_dump_json(indent=2) + "\n")
    (tmp / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    for path in (tmp / "link.parquet", tmp / "outbox" / "contact.csv"):
        os.chmod(path, 0o600)
    folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder.parent.parent, 0o700)  # ttp/: the TTP's own area, nobody else reads it
    tmp.rename(folder)
