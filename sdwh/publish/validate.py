"""Read a release back with independent consumers: sdmx1 for SDMX, jsonschema for JSON-stat.

A format is only as good as a stranger's reader: the SDMX-CSV is parsed by ``sdmx1`` against
the DSD that ``sdmx1`` read from our SDMX-ML, and the JSON-stat document is checked against a
schema written from the JSON-stat 2.0 specification plus the cross-field rules it states.
Both must give back exactly the values of the tidy CSV.
"""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from sdwh.publish.formats import cube_dimensions, sdmx_ids
from sdwh.publish.indicators import Indicator


def jsonstat_schema() -> dict[str, Any]:
    text = resources.files("sdwh.publish").joinpath(
        "schemas/jsonstat-2.0-dataset.schema.json").read_text()
    return json.loads(text)


def check_jsonstat(doc: dict[str, Any]) -> list[str]:
    """Schema errors plus the specification's cross-field rules; empty when valid."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(jsonstat_schema())
    problems = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(doc)]
    if problems:
        return problems
    if len(doc["id"]) != len(doc["size"]):
        problems.append("id and size differ in length")
    total = math.prod(doc["size"])
    for dim, n in zip(doc["id"], doc["size"], strict=False):
        if dim not in doc["dimension"]:
            problems.append(f"dimension {dim} is listed in id but not described")
            continue
        index = doc["dimension"][dim]["category"].get("index")
        if index is not None and len(index) != n:
            problems.append(f"dimension {dim}: {len(index)} categories but size {n}")
    for name in ("value", "status"):
        part = doc.get(name)
        if isinstance(part, list) and len(part) not in (0, total) and not (
                name == "status" and len(part) == 1):
            problems.append(f"{name} has {len(part)} entries, the cube {total}")
        if isinstance(part, dict) and any(int(k) >= total for k in part):
            problems.append(f"{name} has an index beyond the cube's {total} cells")
    return problems


def jsonstat_frame(doc: dict[str, Any]) -> pd.DataFrame:
    """Decode a (sparse) JSON-stat dataset into rows of category codes and values."""
    ids, size = doc["id"], doc["size"]
    cats = []
    for dim in ids:
        index = doc["dimension"][dim]["category"]["index"]
        cats.append(index if isinstance(index, list) else sorted(index, key=index.get))
    values = doc["value"]
    items = values.items() if isinstance(values, dict) else enumerate(values)
    rows = []
    for key, v in items:
        flat, codes = int(key), []
        for n, c in zip(reversed(size), reversed(cats), strict=True):
            codes.append(c[flat % n])
            flat //= n
        rows.append([*reversed(codes), v])
    return pd.DataFrame(rows, columns=[*ids, "value"])


def read_sdmx(folder: Path, ind: Indicator) -> pd.DataFrame:
    """Parse DSD (SDMX-ML 2.1) and data (SDMX-CSV 2.0) with sdmx1; one row per observation."""
    import sdmx

    d = ind.id
    structure = sdmx.read_sdmx(folder / d / f"{d}.dsd.xml")
    _, df_id = sdmx_ids(ind)
    flow = structure.dataflow[df_id]
    msg = sdmx.read_sdmx(folder / d / f"{d}.sdmx.csv", structure=flow)
    rows = []
    for ds in msg.data:
        for obs in ds.obs:
            key = {k: str(v.value) for k, v in obs.key.values.items()}
            attrs = {k: str(v.value) if hasattr(v, "value") else str(v)
                     for k, v in obs.attached_attribute.items()}
            value = obs.value
            rows.append({**key, **attrs, "OBS_VALUE": value})
    return pd.DataFrame(rows)


def compare_release(folder: Path, ind: Indicator, sdmx_data: bool = True) -> dict[str, Any]:
    """Read every format back and compare with the tidy CSV; returns counts and mismatches.

    ``sdmx_data=False`` reads only the DSD with sdmx1 (its CSV reader takes minutes for the
    165,000 observations of the municipal employment rate).
    """
    d = ind.id
    tidy = pd.read_csv(folder / d / f"{d}.csv", dtype=str, keep_default_na=False)
    parquet = pd.read_parquet(folder / d / f"{d}.parquet")
    doc = json.loads((folder / d / f"{d}.jsonstat.json").read_text())
    problems = check_jsonstat(doc)
    js = jsonstat_frame(doc)
    if sdmx_data:
        sd = read_sdmx(folder, ind)
    else:
        import sdmx

        structure = sdmx.read_sdmx(folder / d / f"{d}.dsd.xml")
        assert sdmx_ids(ind)[1] in structure.dataflow
        sd = pd.read_csv(folder / d / f"{d}.sdmx.csv", dtype=str, keep_default_na=False)

    def num(x: Any) -> float | None:
        if x is None or x == "" or (isinstance(x, float) and math.isnan(x)):
            return None
        return round(float(x), 6)

    expected = sorted(num(v) is None for v in tidy["value"])
    mismatches = 0
    if len(parquet) != len(tidy):
        mismatches += abs(len(parquet) - len(tidy))
    mismatches += sum(num(a) != num(b) for a, b in zip(tidy["value"], parquet["value"],
                                                       strict=False))
    # cell by cell: the same value (or the same gap) under the same keys in every format
    keyed = {dim: col for dim, col, _ in cube_dimensions(ind)}
    tidy_values = {tuple(r[col] for col in keyed.values()): num(r["value"])
                   for r in tidy.to_dict("records")}

    def cell_mismatches(frame: pd.DataFrame, time_format: Any) -> int:
        found = 0
        for r in frame.to_dict("records"):
            key = tuple(time_format(r[dim]) if dim == "TIME_PERIOD" else str(r[dim])
                        for dim in keyed)
            if key not in tidy_values or tidy_values[key] != num(r.get("OBS_VALUE",
                                                                        r.get("value"))):
                found += 1
        return found + abs(len(frame) - len(tidy_values))

    js_cells = cell_mismatches(js, str)
    sd_cells = cell_mismatches(sd, lambda t: str(t).replace("-", ""))
    js_vals = sorted((num(v) is None) for v in js["value"])
    sd_vals = sorted(num(v) is None for v in sd["OBS_VALUE"])
    tidy_sum = sum(num(v) or 0.0 for v in tidy["value"])
    return {
        "rows": len(tidy), "parquet_rows": len(parquet), "jsonstat_values": len(js),
        "sdmx_observations": len(sd), "jsonstat_problems": problems,
        "parquet_mismatches": int(mismatches),
        "sums": {"csv": round(tidy_sum, 3),
                 "jsonstat": round(sum(num(v) or 0.0 for v in js["value"]), 3),
                 "sdmx": round(sum(num(v) or 0.0 for v in sd["OBS_VALUE"]), 3)},
        "missing_pattern_equal": expected == js_vals == sd_vals,
        "jsonstat_cell_mismatches": js_cells, "sdmx_cell_mismatches": sd_cells,
    }
