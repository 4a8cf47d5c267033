"""Writers of the published formats: tidy CSV, Parquet, SDMX-CSV 2.0 + SDMX-ML 2.1 DSD, JSON-stat.

Every writer is deterministic (sorted rows, fixed number formatting, no timestamps other than
the release's issue date) so the same inputs give byte-identical files.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sdwh.publish.cells import key_columns
from sdwh.publish.indicators import Indicator

AGENCY = "VSA"
VERSION = "1.0"
SDMX_OBS_STATUS = {"A": "Normal value", "P": "Provisional value", "R": "Revised value"}
SDMX_CONF_STATUS = {"F": "Free", "C": "Confidential (primary suppression)",
                    "D": "Confidential (secondary suppression)"}


def cube_dimensions(ind: Indicator) -> list[tuple[str, str, str]]:
    """(id, column, label) of the cube's dimensions; the geography level is implied by GEO."""
    return [("MEASURE", "measure", "Measure"),
            *[(d.id, d.column, d.label) for d in ind.dimensions if d.id != "GEO_LEVEL"],
            ("TIME_PERIOD", "quarter", "Quarter")]


def format_value(value: float, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.1f}" if unit == "percent" else str(round(value))


# ---------------------------------------------------------------- tidy CSV and Parquet

def tidy_csv(ind: Indicator, table: pd.DataFrame) -> bytes:
    """Long CSV: keys, measure, unit, value, flags (c/p/r) and the flags as booleans."""
    keys = key_columns(ind)
    header = ["indicator", *keys, "measure", "unit", "value", "flags", "suppressed",
              "confidentiality", "provisional", "revised"]
    columns = [_text(table["indicator"]), *[_text(table[k]) for k in keys],
               _text(table["measure"]), _text(table["unit"]), value_texts(table),
               flag_texts(table), _bools(table["suppressed"]), _text(table["confidentiality"]),
               _bools(table["provisional"]), _bools(table["revised"])]
    return _csv(header, columns)


def _text(column: pd.Series) -> list[str]:
    return column.astype(str).tolist()


def _bools(column: pd.Series) -> list[str]:
    return np.where(column.to_numpy(dtype=bool), "true", "false").tolist()


def _csv(header: list[str], columns: list[list[str]]) -> bytes:
    """Rows of a CSV from its columns (csv.writer's quoting, one pass in C)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(zip(*columns, strict=True))
    return buf.getvalue().encode()


def value_texts(table: pd.DataFrame) -> list[str]:
    """``format_value`` for a whole column: one decimal for percentages, integers else."""
    value = table["value"].to_numpy(dtype=float)
    missing = np.isnan(value)
    percent = (table["unit"] == "percent").to_numpy()
    out = np.full(len(value), "", dtype=object)
    counts = ~missing & ~percent
    out[counts] = np.round(value[counts]).astype(np.int64).astype(str)
    rates = ~missing & percent
    out[rates] = [f"{v:.1f}" for v in value[rates]]
    return out.tolist()


def flag_texts(table: pd.DataFrame) -> list[str]:
    """``flags`` for a whole table: c (suppressed), p (provisional), r (revised)."""
    out = np.full(len(table), "", dtype=object)
    for column, letter in (("suppressed", "c"), ("provisional", "p"), ("revised", "r")):
        out = out + np.where(table[column].to_numpy(dtype=bool), letter, "")
    return out.tolist()


def _b(x: Any) -> str:
    return "true" if bool(x) else "false"


def parquet_bytes(ind: Indicator, table: pd.DataFrame) -> bytes:
    """The tidy table as Parquet (zstd), the same columns as the CSV with typed values."""
    keys = key_columns(ind)
    frame = table[["indicator", *keys, "measure", "unit", "value", "suppressed",
                   "confidentiality", "provisional", "revised"]].copy()
    frame["flags"] = flag_texts(frame)
    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    arrow = arrow.replace_schema_metadata({"indicator": ind.id})
    sink = pa.BufferOutputStream()
    pq.write_table(arrow, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


# ---------------------------------------------------------------- SDMX

def sdmx_ids(ind: Indicator) -> tuple[str, str]:
    return f"DSD_{ind.id.upper()}", f"DF_{ind.id.upper()}"


def sdmx_time(quarter: str) -> str:
    return f"{quarter[:4]}-{quarter[4:]}"


def sdmx_csv(ind: Indicator, table: pd.DataFrame) -> bytes:
    """SDMX-CSV 2.0: STRUCTURE, STRUCTURE_ID, ACTION, dimensions, OBS_VALUE, attributes."""
    _, df_id = sdmx_ids(ind)
    dims = cube_dimensions(ind)
    n = len(table)
    codes = [_text(table[col].map(sdmx_time)) if dim == "TIME_PERIOD" else _text(table[col])
             for dim, col, _ in dims]
    status = np.where(table["revised"].to_numpy(dtype=bool), "R",
                      np.where(table["provisional"].to_numpy(dtype=bool), "P", "A")).tolist()
    columns = [["dataflow"] * n, [f"{AGENCY}:{df_id}({VERSION})"] * n, ["I"] * n, *codes,
               value_texts(table), _text(table["unit"].str.upper()), status,
               _text(table["confidentiality"])]
    return _csv(["STRUCTURE", "STRUCTURE_ID", "ACTION", *[d[0] for d in dims], "OBS_VALUE",
                 "UNIT_MEASURE", "OBS_STATUS", "CONF_STATUS"], columns)


def sdmx_structure(ind: Indicator, table: pd.DataFrame, labels: Mapping[str, Mapping[str, str]],
                   prepared: str) -> bytes:
    """SDMX-ML 2.1 structure message: codelists, concepts, the DSD and its dataflow."""
    dsd_id, df_id = sdmx_ids(ind)
    dims = cube_dimensions(ind)
    codelists: dict[str, dict[str, str]] = {}
    for dim, col, _ in dims:
        if dim == "TIME_PERIOD":
            continue
        codes = sorted({str(c) for c in table[col]})
        names = labels.get(dim, {})
        codelists[f"CL_{dim}"] = {c: names.get(c, c) for c in codes}
    codelists["CL_UNIT_MEASURE"] = {"PERSONS": "Persons", "PERCENT": "Percent"}
    codelists["CL_OBS_STATUS"] = SDMX_OBS_STATUS
    codelists["CL_CONF_STATUS"] = SDMX_CONF_STATUS
    concepts = {dim: label for dim, _, label in dims} | {
        "OBS_VALUE": "Observation value", "UNIT_MEASURE": "Unit of measure",
        "OBS_STATUS": "Observation status", "CONF_STATUS": "Confidentiality status"}
    cs_id = f"CS_{ind.id.upper()}"

    def name(text: str) -> str:
        return f'<com:Name xml:lang="en">{escape(text)}</com:Name>'

    def ref(id_: str, cls: str, package: str, parent: str | None = None) -> str:
        if parent:
            return (f'<Ref id="{id_}" maintainableParentID="{parent}" '
                    f'maintainableParentVersion="{VERSION}" agencyID="{AGENCY}" '
                    f'class="{cls}" package="{package}"/>')
        return (f'<Ref id="{id_}" version="{VERSION}" agencyID="{AGENCY}" class="{cls}" '
                f'package="{package}"/>')

    def concept(id_: str) -> str:
        return f"<str:ConceptIdentity>{ref(id_, 'Concept', 'conceptscheme', cs_id)}" \
               "</str:ConceptIdentity>"

    def enum(cl: str) -> str:
        return ("<str:LocalRepresentation><str:Enumeration>"
                f"{ref(cl, 'Codelist', 'codelist')}</str:Enumeration></str:LocalRepresentation>")

    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<mes:Structure xmlns:mes="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/message"'
           ' xmlns:str="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/structure"'
           ' xmlns:com="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common">',
           f"<mes:Header><mes:ID>{dsd_id}</mes:ID><mes:Test>false</mes:Test>"
           f"<mes:Prepared>{prepared}T00:00:00</mes:Prepared>"
           f'<mes:Sender id="{AGENCY}"/></mes:Header>', "<mes:Structures>",
           f'<str:Dataflows><str:Dataflow id="{df_id}" agencyID="{AGENCY}" version="{VERSION}">'
           f"{name(ind.title)}<str:Structure>{ref(dsd_id, 'DataStructure', 'datastructure')}"
           "</str:Structure></str:Dataflow></str:Dataflows>", "<str:Codelists>"]
    for cl, codes in codelists.items():
        out.append(f'<str:Codelist id="{cl}" agencyID="{AGENCY}" version="{VERSION}">'
                   + name(cl.removeprefix("CL_").replace("_", " ").title()))
        out.extend(f"<str:Code id={quoteattr(c)}>{name(label)}</str:Code>"
                   for c, label in codes.items())
        out.append("</str:Codelist>")
    out.append("</str:Codelists><str:Concepts>"
               f'<str:ConceptScheme id="{cs_id}" agencyID="{AGENCY}" version="{VERSION}">'
               + name(f"Concepts of {ind.title}"))
    out.extend(f'<str:Concept id="{c}">{name(label)}</str:Concept>'
               for c, label in concepts.items())
    out.append("</str:ConceptScheme></str:Concepts><str:DataStructures>"
               f'<str:DataStructure id="{dsd_id}" agencyID="{AGENCY}" version="{VERSION}">'
               f"{name(ind.title)}<str:DataStructureComponents>"
               '<str:DimensionList id="DimensionDescriptor">')
    for pos, (dim, _, _) in enumerate(dims, start=1):
        if dim == "TIME_PERIOD":
            out.append(f'<str:TimeDimension id="TIME_PERIOD" position="{pos}">'
                       f"{concept(dim)}<str:LocalRepresentation>"
                       '<str:TextFormat textType="ObservationalTimePeriod"/>'
                       "</str:LocalRepresentation></str:TimeDimension>")
        else:
            out.append(f'<str:Dimension id="{dim}" position="{pos}">{concept(dim)}'
                       f"{enum('CL_' + dim)}</str:Dimension>")
    out.append('</str:DimensionList><str:AttributeList id="AttributeDescriptor">')
    for attr in ("UNIT_MEASURE", "OBS_STATUS", "CONF_STATUS"):
        out.append(f'<str:Attribute id="{attr}" assignmentStatus="Mandatory">{concept(attr)}'
                   f"{enum('CL_' + attr)}<str:AttributeRelationship>"
                   "<str:PrimaryMeasure>OBS_VALUE</str:PrimaryMeasure>"
                   "</str:AttributeRelationship></str:Attribute>")
    out.append('</str:AttributeList><str:MeasureList id="MeasureDescriptor">'
               f'<str:PrimaryMeasure id="OBS_VALUE">{concept("OBS_VALUE")}</str:PrimaryMeasure>'
               "</str:MeasureList></str:DataStructureComponents></str:DataStructure>"
               "</str:DataStructures></mes:Structures></mes:Structure>")
    return ("\n".join(out) + "\n").encode()


# ---------------------------------------------------------------- JSON-stat 2.0

def jsonstat(ind: Indicator, table: pd.DataFrame, labels: Mapping[str, Mapping[str, str]],
             issued: str, release: str) -> bytes:
    """JSON-stat 2.0 dataset; values and statuses as sparse objects keyed by cell index.

    Absent cells (an area without residents of an age band) are left out of ``value``, which
    the specification reads as missing; suppressed cells are ``null`` with status ``c``.
    """
    dims = cube_dimensions(ind)
    index: dict[str, list[str]] = {}
    for dim, col, _ in dims:
        index[dim] = sorted(table[col].astype(str).unique().tolist())
    size = [len(index[d]) for d, _, _ in dims]
    pos = {d: {c: i for i, c in enumerate(index[d])} for d, _, _ in dims}
    strides = [math.prod(size[k + 1:]) for k in range(len(size))]
    flat = np.zeros(len(table), dtype=np.int64)
    for (dim, col, _), stride in zip(dims, strides, strict=True):
        codes = table[col].astype(str).map(pos[dim]).to_numpy(dtype=np.int64)
        flat += codes * stride
    percent = (table["unit"] == "percent").to_numpy()
    texts = value_texts(table)
    # the same numbers as format_value, as JSON numbers (null when suppressed or undefined)
    numbers: list[float | int | None] = [
        None if t == "" else (float(t) if p else int(t))
        for t, p in zip(texts, percent, strict=True)]
    values = dict(zip(flat.tolist(), numbers, strict=True))
    status = {k: f for k, f in zip(flat.tolist(), flag_texts(table), strict=True) if f}
    dimension: dict[str, Any] = {}
    for dim, _, label in dims:
        cat: dict[str, Any] = {"index": index[dim]}
        names = labels.get(dim, {})
        if dim == "TIME_PERIOD":
            cat["label"] = {q: q for q in index[dim]}
        else:
            cat["label"] = {c: names.get(c, c) for c in index[dim]}
        if dim == "MEASURE":
            cat["unit"] = {m.id: {"label": m.unit, "decimals": 1 if m.unit == "percent" else 0}
                           for m in ind.measures if m.id in index[dim]}
        dimension[dim] = {"label": label, "category": cat}
    role = {"time": ["TIME_PERIOD"], "metric": ["MEASURE"]}
    if "GEO" in index:
        role["geo"] = ["GEO"]
    doc = {
        "version": "2.0", "class": "dataset", "label": ind.title,
        "source": "Statistiek Vlaanderen (VSA), statistical data warehouse", "updated": issued,
        "id": [d for d, _, _ in dims], "size": size, "role": role, "dimension": dimension,
        "value": {str(k): values[k] for k in sorted(values)},
        "status": {str(k): status[k] for k in sorted(status)},
        "note": ["Status c: confidential (suppressed); p: provisional; r: revised since the "
                 "previous release."],
        "extension": {"release": release, "indicator": ind.id},
    }
    return (json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"
            ).encode()
