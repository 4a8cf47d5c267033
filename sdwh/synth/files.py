"""Writing a delivery: format a :data:`Frame` as the contract says, write the data file and
its ``manifest.json`` into a new folder, atomically, never silently over a different one."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from sdwh.errors import SdwhError
from sdwh.landing.contracts import Column, Contract
from sdwh.landing.manifest import MANIFEST_NAME, DeliveredFile, Manifest, sha256_of
from sdwh.synth.frames import Cat, Frame, Value, frame_rows

WIDTH = {"insz": 11, "kbo": 10, "rsz_employer": 9, "refnis": 5, "nace": 2}


def _digits(values: np.ndarray, width: int = 0) -> pa.Array:
    text = pc.cast(pa.array(values), pa.string())
    return pc.utf8_lpad(text, width, "0") if width else text


def _amount(cents: np.ndarray, unit: str) -> pa.Array:
    cents = cents.astype(np.int64)
    if unit == "cent":
        return _digits(cents)
    if unit == "eur":
        whole, frac = np.divmod(cents, 100)
        return pc.binary_join_element_wise(_digits(whole), _digits(frac, 2), ".")
    euros = np.round(cents / 100).astype(np.int64)  # keur: three decimals
    whole, frac = np.divmod(euros, 1000)
    return pc.binary_join_element_wise(_digits(whole), _digits(frac, 3), ".")


def _date(days: np.ndarray, fmt: str | None, parquet: bool) -> pa.Array:
    arr = pa.array(days.astype(np.int32), pa.int32()).cast(pa.date32())
    if parquet:
        return arr
    if fmt == "%Y%m%d":
        return pc.replace_substring(pc.cast(arr, pa.string()), "-", "")
    return pc.cast(arr, pa.string())


def format_column(col: Column, value: Value, n: int, unit: str | None,
                  parquet: bool) -> pa.Array:
    """One column as text (dates typed in Parquet); ``-1`` becomes an empty optional value."""
    if isinstance(value, str):
        return pa.array([value] * n, pa.string()) if n else pa.array([], pa.string())
    if isinstance(value, pa.Array):
        return value
    if isinstance(value, Cat):
        labels = pa.array(value.labels, pa.string())
        return pa.DictionaryArray.from_arrays(pa.array(value.codes, pa.int8()),
                                              labels).dictionary_decode()
    if col.type == "date":
        return _date(value, col.format, parquet)
    if col.type == "amount":
        return _amount(value, unit or col.unit or "eur")
    text = _digits(value, WIDTH.get(col.type, 0))
    if not col.required:
        text = pc.if_else(pa.array(value < 0), pa.scalar(None, pa.string()), text)
    return text


def to_table(frame: Frame, contract: Contract, units: dict[str, str]) -> pa.Table:
    n = frame_rows(frame)
    parquet = contract.format == "parquet"
    return pa.table({c.name: format_column(c, frame[c.name], n, units.get(c.name), parquet)
                     for c in contract.columns})


def write_data(table: pa.Table, contract: Contract, path: Path) -> None:
    if contract.format == "parquet":
        pq.write_table(table, path, compression="zstd")
        return
    delimiter = contract.csv.delimiter
    with path.open("wb") as fh:
        fh.write((delimiter.join(table.column_names) + "\n").encode(contract.csv.encoding))
        pacsv.write_csv(table, fh, pacsv.WriteOptions(
            include_header=False, delimiter=delimiter, quoting_style="none"))


@dataclass
class Written:
    folder: Path
    rows: int
    skipped: bool  # an identical delivery was already there


def truncate_mid_line(path: Path, share: float) -> None:
    """Cut the file inside a line about ``share`` of the way through (a broken transfer)."""
    data = path.read_bytes()
    cut = int(len(data) * share)
    while cut < len(data) - 1 and data[cut - 1:cut] == b"\n":
        cut += 1
    path.write_bytes(data[:cut])


def write_delivery(landing: Path, header: dict, file_name: str, table: pa.Table,
                   contract: Contract, truncate_at: float | None = None) -> Written:
    """Write the delivery folder (data file plus manifest built from ``header``) atomically.

    The manifest describes the complete file even when ``truncate_at`` cuts it. An existing
    folder with the same manifest and files is left alone; a different one is an error.
    """
    name = file_name
    # One temporary folder per delivery and revision: writer processes run side by side,
    # and a truncated file's re-send has the same file name as the truncated one.
    tmp = landing / f".{name}.r{header['revision']}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    write_data(table, contract, tmp / name)
    manifest = Manifest(**header, files=[
        DeliveredFile(name=name, sha256=sha256_of(tmp / name), rows=table.num_rows)])
    folder = landing / manifest.folder_name
    if truncate_at is not None:
        truncate_mid_line(tmp / name, truncate_at)
    (tmp / MANIFEST_NAME).write_text(manifest.dump(), encoding="utf-8")
    if folder.exists():
        same = _same_folder(folder, tmp, name)
        shutil.rmtree(tmp)
        if not same:
            raise SdwhError(
                f"delivery folder {folder} already exists with different content",
                "Use another --out directory or seed, or remove the old landing zone first.")
        return Written(folder, table.num_rows, skipped=True)
    tmp.rename(folder)
    return Written(folder, table.num_rows, skipped=False)


def _same_folder(existing: Path, new: Path, name: str) -> bool:
    names = {p.name for p in existing.iterdir()}
    if names != {MANIFEST_NAME, name}:
        return False
    return all((existing / f).read_bytes() == (new / f).read_bytes() if f == MANIFEST_NAME
               else sha256_of(existing / f) == sha256_of(new / f) for f in names)
