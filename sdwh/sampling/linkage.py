"""Link survey responses to the sample and the person × quarter panel, and weight them.

Accounting: every delivered response is linked (to a sampled person who is in the panel of the
reference quarter) or unlinked with a reason — delivered = linked + unlinked, asserted.
Weights: design weight 1/π, a non-response adjustment within strata (n sampled / n responding),
then calibration (raking by default) to the register margins of the same population, so the
weighted survey reproduces the register's counts by sex, age band and province exactly.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sdwh.config import Settings
from sdwh.deliveries.register import open_register
from sdwh.errors import SdwhError
from sdwh.sampling.calibration import Distance, calibrate
from sdwh.sampling.design import STRATUM_COLUMNS, SampleDesign
from sdwh.sampling.draw import samples_dir
from sdwh.sampling.frame import read_frame

MARGINS = ("sex", "age_band", "province")


def weights_path(settings: Settings, quarter: str, sample_id: str) -> Path:
    """Where the weights land: the raw store, beside the responses, so dbt reads them."""
    return settings.raw_dir / "statbel" / "lfs_weights" / quarter / sample_id / "data.parquet"


def _responses(settings: Settings, quarter: str) -> pd.DataFrame:
    with open_register(settings.register_path) as reg:
        row = reg.execute(
            "SELECT raw_path FROM deliveries WHERE supplier = 'statbel' AND dataset = "
            "'lfs_responses' AND reference_period = ? AND status = 'accepted'",
            (quarter,)).fetchone()
    if row is None or not row["raw_path"]:
        raise SdwhError(f"no accepted LFS response delivery for {quarter}",
                        "Ingest the survey organisation's delivery first (`sdwh ingest`).")
    return pd.read_parquet(Path(row["raw_path"]))


def link_responses(settings: Settings, sample_id: str,
                   distance: Distance = "raking") -> dict[str, Any]:
    """Link, account, weight; write the weights to the raw store and a linkage report."""
    folder = samples_dir(settings) / sample_id
    if not (folder / "link.parquet").exists():
        raise SdwhError(f"no sample {sample_id}", "Draw one first with `sdwh sample draw`.")
    design = SampleDesign.model_validate_json((folder / "design.json").read_text())
    link = pd.read_parquet(folder / "link.parquet")
    frame = read_frame(settings.root / "warehouse" / "sdwh.duckdb", design)
    responses = _responses(settings, design.reference_quarter)
    merged = responses[["person_id"]].merge(link, on="person_id", how="left", indicator="in_sample")
    in_frame = merged["person_id"].isin(frame["person_id"])
    reason = np.select([merged["in_sample"] == "left_only", ~in_frame],
                       ["not in the sample", "not in the panel of the quarter"], default="")
    linked = merged[reason == ""].copy()
    unlinked = pd.Series(reason[reason != ""]).value_counts().to_dict()
    if len(linked) + sum(unlinked.values()) != len(responses):
        raise SdwhError("linkage accounting does not add up", "This is a bug; report it.")
    linked = linked.merge(frame[["person_id", "sex_code", "province_refnis"]],
                          on="person_id", suffixes=("_sample", ""))
    linked["age_band"] = linked["person_id"].map(frame.set_index("person_id")["age_band"])
    nonresponse = _nonresponse(link, linked)
    adjust = nonresponse.set_index("stratum")["adjustment"]
    linked["nonresponse_weight"] = linked["design_weight"] * linked["stratum"].map(adjust)
    x, totals, names = _margin_matrix(linked, frame)
    result = calibrate(x, linked["nonresponse_weight"].to_numpy(), totals, distance)
    linked["calibrated_weight"] = result.weights
    weights = linked.sort_values("person_id")[[
        "person_id", "sample_id", "stratum", "design_weight", "nonresponse_weight",
        "calibrated_weight"]].assign(quarter=design.reference_quarter)
    _write_weights(weights_path(settings, design.reference_quarter, sample_id), weights)
    report = {
        "sample_id": sample_id, "quarter": design.reference_quarter,
        "delivered": len(responses), "linked": len(linked), "unlinked": unlinked,
        "linkage_rate": round(len(linked) / len(responses), 6) if len(responses) else 0.0,
        "persons_sampled": len(link),
        "response_rate": round(len(linked) / len(link), 6) if len(link) else 0.0,
        "nonresponse": nonresponse.to_dict(orient="records"),
        "calibration": {"distance": distance, "margins": list(MARGINS),
                        "categories": names, "iterations": result.iterations,
                        "max_relative_error": result.max_relative_error,
                        "weight_min": round(float(result.weights.min()), 6),
                        "weight_max": round(float(result.weights.max()), 6),
                        "population": len(frame),
                        "weighted_total": round(float(result.weights.sum()), 6)},
    }
    (folder / "linkage.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    return report


def _nonresponse(link: pd.DataFrame, linked: pd.DataFrame) -> pd.DataFrame:
    sampled = link.groupby("stratum").size().rename("sampled")
    responding = linked.groupby("stratum").size().rename("responding")
    table = pd.concat([sampled, responding], axis=1).fillna(0).astype(int).reset_index()
    if (table["responding"] == 0).any():
        empty = table.loc[table["responding"] == 0, "stratum"].tolist()
        raise SdwhError(f"no responses in stratum/strata {empty}",
                        "Collapse strata in the design or wait for more responses.")
    table["response_rate"] = (table["responding"] / table["sampled"]).round(6)
    table["adjustment"] = table["sampled"] / table["responding"]
    return table


def _margin_matrix(linked: pd.DataFrame, frame: pd.DataFrame
                   ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Indicator columns per margin category and the register's count of each."""
    columns, totals, names = [], [], []
    for margin in MARGINS:
        column = STRATUM_COLUMNS[margin]
        counts = frame[column].astype(str).value_counts().sort_index()
        for category, count in counts.items():
            columns.append((linked[column].astype(str) == category).to_numpy(float))
            totals.append(float(count))
            names.append(f"{margin}={category}")
    return np.column_stack(columns), np.array(totals), names


def _write_weights(path: Path, weights: pd.DataFrame) -> None:
    tmp = path.parent.with_name(f".{path.parent.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    pq.write_table(pa.Table.from_pandas(weights, preserve_index=False), tmp / path.name,
                   compression="zstd")
    if path.parent.exists():
        shutil.rmtree(path.parent)
    os.replace(tmp, path.parent)


