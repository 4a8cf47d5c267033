"""Reading a delivered file into Arrow, with the structural checks that reject a delivery.

Structural faults (wrong checksum, wrong row count, unreadable bytes, wrong encoding, missing
or unexpected columns, empty file) reject the whole delivery: nothing of it is stored.
Lines with the wrong number of fields are record faults and go to quarantine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from sdwh.errors import DeliveryRejected
from sdwh.landing.contracts import Contract
from sdwh.landing.manifest import DeliveredFile, sha256_of


@dataclass
class ReadResult:
    """A file's rows as all-VARCHAR Arrow, numbered from 1, plus lines that did not parse."""

    table: pa.Table
    bad_lines: list[str] = field(default_factory=list)


def check_file(path: Path, declared: DeliveredFile) -> None:
    """The file exists, is not empty and is byte-for-byte the one the manifest describes."""
    if not path.is_file():
        raise DeliveryRejected(str(path), "file_missing", "the manifest names a file that is "
                               "not in the delivery", "Send every file listed in manifest.json.")
    if path.stat().st_size == 0:
        raise DeliveryRejected(str(path), "empty_file", "the file is empty",
                               "Resend the delivery with its data.")
    actual = sha256_of(path)
    if actual != declared.sha256:
        raise DeliveryRejected(
            str(path), "checksum",
            f"sha256 is {actual[:12]}…, the manifest says {declared.sha256[:12]}… "
            "(truncated or altered in transit)",
            "Ask the supplier to resend the file; do not edit delivered files.")


def _check_columns(path: Path, found: list[str], contract: Contract) -> None:
    expected = contract.column_names
    missing = [c for c in expected if c not in found]
    if missing:
        raise DeliveryRejected(str(path), "missing_column",
                               f"column(s) {', '.join(missing)} required by contract "
                               f"{contract.key} are missing",
                               f"Expected columns: {', '.join(expected)}.")
    extra = [c for c in found if c not in expected]
    if extra:
        raise DeliveryRejected(str(path), "unexpected_column",
                               f"column(s) {', '.join(extra)} are not in contract {contract.key}",
                               "Agree a new contract version before sending new columns.")


def _numbered(table: pa.Table, columns: list[str]) -> pa.Table:
    table = table.select(columns)
    rows = pa.array(np.arange(1, table.num_rows + 1, dtype=np.int64))
    return table.add_column(0, "_row", rows)


def _read_csv(path: Path, contract: Contract) -> ReadResult:
    bad: list[str] = []

    def on_bad_line(row: pacsv.InvalidRow) -> str:
        bad.append(row.text)
        return "skip"

    header = _header(path, contract)
    _check_columns(path, header, contract)
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(encoding=contract.csv.encoding, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter=contract.csv.delimiter,
                                             invalid_row_handler=on_bad_line,
                                             newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in header},
                strings_can_be_null=False, quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError, LookupError) as err:
        rule = "encoding" if "UTF8" in str(err) or "decode" in str(err).lower() else "unreadable"
        first_line = str(err).splitlines()[0][:160]
        raise DeliveryRejected(str(path), rule,
                               f"the file cannot be read as {contract.csv.encoding} CSV "
                               f"with delimiter '{contract.csv.delimiter}': {first_line}",
                               "Check the file's encoding and delimiter against the contract."
                               ) from None
    return ReadResult(_numbered(table, contract.column_names), bad)


def _header(path: Path, contract: Contract) -> list[str]:
    """The header line's column names, read without parsing the rest of the file."""
    with path.open("rb") as fh:
        line = fh.readline(1 << 16)
    try:
        text = line.decode(contract.csv.encoding).rstrip("\r\n")
    except (UnicodeDecodeError, LookupError):
        raise DeliveryRejected(str(path), "encoding",
                               f"the header line is not valid {contract.csv.encoding}",
                               "Check the file's encoding against the contract.") from None
    return [name.strip().strip('"') for name in text.split(contract.csv.delimiter)]


def _read_parquet(path: Path, contract: Contract) -> ReadResult:
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise DeliveryRejected(str(path), "unreadable",
                               f"the file is not readable Parquet: {str(err)[:160]}",
                               "Resend the file as Parquet, as the contract says.") from None
    _check_columns(path, table.column_names, contract)
    as_text = pa.table({c: table[c].cast(pa.string()) for c in contract.column_names})
    return ReadResult(_numbered(as_text, contract.column_names))


def read_delivered_file(path: Path, contract: Contract) -> ReadResult:
    """Read one checked file in the contract's format."""
    if contract.format == "csv":
        return _read_csv(path, contract)
    return _read_parquet(path, contract)
