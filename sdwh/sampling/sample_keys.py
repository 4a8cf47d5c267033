"""Resolve the TTP's sample keys in a survey delivery to pseudonyms, at the TTP step.

A survey organisation may answer a sample with the sample keys of the contact file instead of
national numbers. Only the TTP can turn a key into a pseudonym: it looks the key up in the
sample's ``link.parquet``, which never leaves ``$SDWH_HOME/ttp/samples/<sample_id>/``. A key
that no TTP sample issued, or that another sample issued, is a record fault with its own
quarantine reason; the rest of the row flows like an INSZ delivery.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

#: Reason codes of a sample key (``sdwh.landing.rules.REASONS`` describes them).
SAMPLE_UNKNOWN = "sample_unknown"
SAMPLE_PERIOD_MISMATCH = "sample_period_mismatch"
SAMPLE_KEY_UNKNOWN = "sample_key_unknown"
SAMPLE_KEY_FOREIGN = "sample_key_foreign"


@dataclass(frozen=True)
class Resolution:
    """Per delivered row: the reason its key is refused (null if none) and its pseudonym."""

    reasons: pa.Array
    person_ids: pa.Array


def sample_folders(ttp_samples: Path) -> dict[str, Path]:
    """Every complete sample at the TTP (a dot folder is a draw still being written)."""
    if not ttp_samples.is_dir():
        return {}
    return {p.name: p for p in sorted(ttp_samples.iterdir())
            if p.is_dir() and not p.name.startswith(".") and (p / "link.parquet").is_file()}


def _issued_keys(folders: dict[str, Path]) -> tuple[pa.Table, dict[str, str]]:
    """All keys the TTP issued (key, sample_id, person_id) and each sample's quarter."""
    tables, quarters = [], {}
    for sample_id, folder in folders.items():
        tables.append(pq.read_table(folder / "link.parquet",
                                    columns=["sample_key", "sample_id", "person_id"]))
        quarters[sample_id] = json.loads((folder / "summary.json").read_text())[
            "reference_quarter"]
    empty = pa.table({c: pa.array([], pa.string())
                      for c in ("sample_key", "sample_id", "person_id")})
    return (pa.concat_tables(tables) if tables else empty), quarters


def resolve_sample_keys(keys: pa.Array, samples: pa.Array, period: str,
                        ttp_samples: Path) -> Resolution:
    """Check each (sample id, sample key) pair of a delivery for ``period`` against the TTP.

    Reasons, first that applies: the named sample does not exist at the TTP
    (``sample_unknown``), answers another quarter (``sample_period_mismatch``), the key was
    issued by no sample (``sample_key_unknown``) or by another sample than the one named
    (``sample_key_foreign``). Empty values get no reason here (the caller's missing_value).
    """
    issued, quarters = _issued_keys(sample_folders(ttp_samples))
    key_list = keys.cast(pa.string()).to_pylist()
    sample_list = samples.cast(pa.string()).to_pylist()
    owner = dict(zip(issued["sample_key"].to_pylist(), zip(issued["sample_id"].to_pylist(),
                                                           issued["person_id"].to_pylist(),
                                                           strict=True), strict=True))
    reasons: list[str | None] = []
    person_ids: list[str | None] = []
    for key, sample in zip(key_list, sample_list, strict=True):
        reason, person = _one(key, sample, period, quarters, owner)
        reasons.append(reason)
        person_ids.append(person)
    return Resolution(pa.array(reasons, pa.string()), pa.array(person_ids, pa.string()))


def _one(key: str | None, sample: str | None, period: str, quarters: dict[str, str],
         owner: dict[str, tuple[str, str]]) -> tuple[str | None, str | None]:
    if not key or not key.strip() or not sample or not sample.strip():
        return None, None
    if sample not in quarters:
        return SAMPLE_UNKNOWN, None
    if quarters[sample] != period:
        return SAMPLE_PERIOD_MISMATCH, None
    found = owner.get(key)
    if found is None:
        return SAMPLE_KEY_UNKNOWN, None
    if found[0] != sample:
        return SAMPLE_KEY_FOREIGN, None
    return None, found[1]
