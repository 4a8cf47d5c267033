"""Link survey responses to the sample and the person × quarter panel, and weight them.

Accounting: every delivered response is linked (to a sampled person who is in the panel of the
reference quarter) or unlinked with a reason — delivered = linked + unlinked, asserted.
Weights: design weight 1/π, a non-response adjustment within strata (n sampled / n responding),
then calibration (raking by default) to the register margins of the same population, so the
weighted survey reproduces the register's counts by sex, age band and province exactly.
Precision: jackknife standard errors of the ILO status totals and unemployment rate
(:mod:`sdwh.sampling.variance`). Responses come from either delivery form (INSZ or sample
keys); both carry only the pseudonym by now.
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
from sdwh.sampling.variance import jackknife_variance, replicate_totals

MARGINS = ("sex", "age_band", "province")


def weights_path(settings: Settings, quarter: str, sample_id: str) -> Path:
    """Where the weights land: the raw store, beside the responses, so dbt reads them."""
    return settings.raw_dir / "statbel" / "lfs_weights" / quarter / sample_id / "data.parquet"


#: Response datasets: keyed by INSZ, or by the TTP's sample keys (resolved at ingest).
RESPONSE_DATASETS = ("lfs_responses", "lfs_responses_by_key")


def _responses(settings: Settings, quarter: str,
               delivery: str | None = None) -> tuple[str, pd.DataFrame]:
    """The accepted response delivery of ``quarter`` (either form), pseudonymised."""
    with open_register(settings.register_path) as reg:
        rows = reg.execute(
            "SELECT delivery_id, dataset, raw_path FROM deliveries WHERE supplier = 'statbel' "
            f"AND dataset IN {RESPONSE_DATASETS} AND reference_period = ? "
            "AND status = 'accepted' ORDER BY delivery_id", (quarter,)).fetchall()
    if delivery is not None:
        rows = [r for r in rows if r["delivery_id"] == delivery]
    if not rows or not rows[0]["raw_path"]:
        raise SdwhError(f"no accepted LFS response delivery {delivery or ''} for {quarter}"
                        .replace("  ", " "),
                        "Ingest the survey organisation's delivery first (`sdwh ingest`); "
                        "`sdwh deliveries --json` lists them.")
    if len(rows) > 1:
        found = ", ".join(f"{r['delivery_id']} ({r['dataset']})" for r in rows)
        raise SdwhError(f"{len(rows)} accepted LFS response deliveries for {quarter}: {found}",
                        "Name the one to link with --delivery.")
    return rows[0]["delivery_id"], pd.read_parquet(Path(rows[0]["raw_path"]))


def link_responses(settings: Settings, sample_id: str, distance: Distance = "raking",
                   delivery: str | None = None) -> dict[str, Any]:
    """Link, account, weight; write the weights to the raw store and a linkage report."""
    folder = samples_dir(settings) / sample_id
    if not (folder / "link.parquet").exists():
        raise SdwhError(f"no sample {sample_id}", "Draw one first with `sdwh sample draw`.")
    design = SampleDesign.model_validate_json((folder / "design.json").read_text())
    link = pd.read_parquet(folder / "link.parquet")
    frame = read_frame(settings.root / "warehouse" / "sdwh.duckdb", design)
    delivery_id, responses = _responses(settings, design.reference_quarter, delivery)
    merged = responses[["person_id", "ilo_status"]].merge(link, on="person_id", how="left",
                                                          indicator="in_sample")
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
    estimates = _ilo_estimates(linked, x, totals, distance, design.cluster)
    weights = linked.sort_values("person_id")[[
        "person_id", "sample_id", "stratum", "design_weight", "nonresponse_weight",
        "calibrated_weight"]].assign(quarter=design.reference_quarter, delivery_id=delivery_id)
    _write_weights(weights_path(settings, design.reference_quarter, sample_id), weights)
    report = {
        "sample_id": sample_id, "quarter": design.reference_quarter,
        "delivery_id": delivery_id, "delivered": len(responses), "linked": len(linked),
        "unlinked": unlinked,
        "linkage_rate": round(len(linked) / len(responses), 6) if len(responses) else 0.0,
        "persons_sampled": len(link),
        "response_rate": round(len(linked) / len(link), 6) if len(link) else 0.0,
        "nonresponse": nonresponse.to_dict(orient="records"),
        "estimates": estimates,
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


def _ilo_estimates(linked: pd.DataFrame, x: np.ndarray, totals: np.ndarray,
                   distance: Distance, cluster: str) -> dict[str, Any]:
    """Calibrated ILO status totals and the ILO unemployment rate with jackknife standard
    errors (households are the PSUs under household clusters), so users see the precision."""
    codes = ["1", "2", "3"]
    y = np.column_stack([(linked["ilo_status"].astype(str) == c).to_numpy(float)
                         for c in codes])
    weights = linked["calibrated_weight"].to_numpy()
    psu = linked["household_key" if cluster == "household" else "person_id"].to_numpy()
    reps = replicate_totals(y, linked["stratum"].to_numpy(), psu,
                            linked["nonresponse_weight"].to_numpy(), x, totals, distance)
    estimate = weights @ y
    se = np.sqrt(jackknife_variance(estimate, reps.totals, reps.coefficients))
    unemployment: dict[str, float] | None = None
    if estimate[0] + estimate[1] > 0 and (reps.totals[:, 0] + reps.totals[:, 1] > 0).all():
        rate = estimate[1] / (estimate[0] + estimate[1])
        rates = reps.totals[:, 1] / (reps.totals[:, 0] + reps.totals[:, 1])
        unemployment = {"estimate": round(float(rate), 6), "se": round(float(np.sqrt(
            jackknife_variance(rate, rates, reps.coefficients))), 6)}
    return {
        "method": "stratified delete-one-PSU jackknife (JKn), each replicate recalibrated",
        "psu": "household" if cluster == "household" else "person",
        "replicates": len(reps.coefficients), "not_recalibrated": reps.not_recalibrated,
        "ilo_status": [{"code": c, "weighted_total": round(float(e), 6),
                        "se": round(float(s), 6),
                        "cv": round(float(s / e), 6) if e else None}
                       for c, e, s in zip(codes, estimate, se, strict=True)],
        "unemployment_rate": unemployment,
    }


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


