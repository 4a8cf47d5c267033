"""What may enter the airlock: files of the researcher's workspace that are outputs, not data.

Each rule refuses with a sentence naming the file and the rule: paths that leave the
workspace (``..``, absolute paths elsewhere), symbolic links anywhere on the path, anything
but regular files, disallowed types (by extension *and* content), oversized files, and data
files that are record-level (person pseudonyms, too many rows, only extract columns) or
byte copies of the extract.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
from pydantic import ValidationError

from sdwh.airlock.model import Context, Kind
from sdwh.errors import SdwhError

SIDECAR_SUFFIX = ".sdwh-query.json"
KINDS: dict[str, Kind] = {".csv": "table", ".parquet": "table", ".png": "graph", ".svg": "graph",
                          ".txt": "text", ".md": "text", ".json": "text"}
PSEUDONYM = re.compile(r"^[0-9a-f]{32}$")
#: Record-level data has few rows per distinct combination; outputs have computed columns.
SLICE_MIN_ROWS = 100

__all__ = ["Context", "Limits", "Refused", "make_context", "stage_submission",
           "validate_files"]


def make_context(**fields: Any) -> Context:
    """The request's context, or a clear error naming the field that is missing or too short."""
    try:
        return Context(**fields)
    except ValidationError as err:
        first = err.errors()[0]
        raise SdwhError(f"the request's context is incomplete: {first['loc'][0]}: "
                        f"{first['msg'].lower()}.", "Say what the outputs show, how they were "
                        "produced, the units and the population.") from None


class Refused(SdwhError):
    """A file that may not enter the airlock; ``rule`` names the rule it broke."""

    def __init__(self, name: str, rule: str, message: str, hint: str = "") -> None:
        super().__init__(f"{name}: {message} [rule {rule}]", hint or
                         "Export aggregated outputs only; see docs/output-checking.md.")
        self.name, self.rule = name, rule


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 16 * 1024 * 1024
    max_rows: int = 5000


@dataclass(frozen=True)
class Accepted:
    name: str
    path: Path
    kind: Kind
    sha256: str
    bytes: int
    query: dict[str, Any] | None


def validate_files(workspace: Path, paths: list[Path], limits: Limits,
                   extract: Path | None = None) -> list[Accepted]:
    """Check every requested file; the first bad one raises :class:`Refused`."""
    if not paths:
        raise SdwhError("An export request needs at least one file.", "")
    root = Path(os.path.realpath(workspace))
    extract_files, extract_columns = _extract_info(extract)
    out, seen = [], set()
    extract_root = Path(os.path.realpath(extract)) if extract is not None else None
    for raw in paths:
        name, path = _inside(root, Path(raw))
        if extract_root is not None and Path(os.path.realpath(path)).is_relative_to(extract_root):
            raise Refused(name, "extract_copy", "is a file of the project extract")
        if name in seen:
            raise Refused(name, "duplicate", "is listed twice")
        seen.add(name)
        kind = _kind(name, path, limits)
        digest = sha256(path)
        if digest in extract_files:
            raise Refused(name, "extract_copy", f"is a copy of the extract's "
                          f"{extract_files[digest]}")
        query = _sidecar(root, name)
        if kind == "table":
            _not_microdata(name, path, limits, extract_columns)
        if kind == "text":
            _text(name, path)
        out.append(Accepted(name, path, kind, digest, path.stat().st_size, query))
    return out


def _inside(root: Path, raw: Path) -> tuple[str, Path]:
    """(workspace-relative name, absolute path); no '..', no symlink on the way, regular file."""
    shown = str(raw)
    if ".." in raw.parts:
        raise Refused(shown, "path_traversal", "uses '..' to leave its folder")
    candidate = raw if raw.is_absolute() else root / raw
    try:
        rel = Path(os.path.normpath(candidate)).relative_to(root)
    except ValueError:
        raise Refused(shown, "outside_workspace", f"is outside your workspace {root}") from None
    current = root
    for part in rel.parts:
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            raise Refused(shown, "missing", "does not exist", "Check the path.") from None
        if stat.S_ISLNK(info.st_mode):
            raise Refused(shown, "symlink", f"goes through the symbolic link {current.name}",
                          "Request the file itself, not a link to it.")
    if not stat.S_ISREG(info.st_mode):
        raise Refused(shown, "not_a_file", "is not a regular file")
    if rel.name.endswith(SIDECAR_SUFFIX):
        raise Refused(shown, "sidecar", "is a query sidecar; it travels with its table")
    return rel.as_posix(), current


def _kind(name: str, path: Path, limits: Limits) -> Kind:
    suffix = path.suffix.lower()
    if suffix not in KINDS:
        raise Refused(name, "file_type", f"has type {suffix or '(none)'}, which cannot be "
                      f"exported", f"Allowed: {', '.join(sorted(KINDS))}.")
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise Refused(name, "file_size", f"has {size:,} bytes, more than the limit of "
                      f"{limits.max_bytes:,}", "Export smaller, aggregated outputs.")
    if size == 0:
        raise Refused(name, "empty", "is empty")
    head = path.read_bytes()[:512]
    ok = {".png": head.startswith(b"\x89PNG\r\n\x1a\n"), ".parquet": head.startswith(b"PAR1"),
          ".svg": b"<svg" in path.read_bytes()[:4096] and b"\0" not in head}.get(
              suffix, b"\0" not in head)
    if not ok:
        raise Refused(name, "content_type", f"does not contain what {suffix} promises",
                      "Save the output in the format its name says.")
    return KINDS[suffix]


def _text(name: str, path: Path) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise Refused(name, "content_type", "is not UTF-8 text") from None
    if name.endswith(".json"):
        try:
            json.loads(text)
        except json.JSONDecodeError:
            raise Refused(name, "content_type", "is not valid JSON") from None
    words = set(re.findall(r"\b[0-9a-f]{32}\b", text))
    if len(words) >= 3:
        raise Refused(name, "pseudonyms", f"contains {len(words)} person pseudonyms")


def read_table(path: Path) -> pd.DataFrame:
    """A table output as strings-first DataFrame (codes like '01' keep their zeros)."""
    if path.suffix.lower() == ".parquet":
        return pq.read_table(path).to_pandas()
    return pd.read_csv(path, dtype=str, keep_default_na=True)


def _not_microdata(name: str, path: Path, limits: Limits, extract_columns: set[str]) -> None:
    try:
        df = read_table(path)
    except Exception as err:  # pandas/pyarrow raise many types for bad files
        raise Refused(name, "content_type", f"cannot be read as a table "
                      f"({type(err).__name__})") from None
    if len(df) > limits.max_rows:
        raise Refused(name, "too_many_rows", f"has {len(df):,} rows, more than "
                      f"{limits.max_rows:,}: that is record-level data, not an output")
    for col in df.columns:
        if str(col).lower() in ("person_id", "insz", "rijksregisternummer"):
            raise Refused(name, "pseudonyms", f"has an identifier column {col}")
        sample = df[col].dropna().astype(str).head(200)
        if len(sample) and sample.str.match(PSEUDONYM).mean() > 0.5:
            raise Refused(name, "pseudonyms", f"column {col} holds person pseudonyms")
    if len(df) >= SLICE_MIN_ROWS and extract_columns and all(
            str(c) in extract_columns for c in df.columns):
        raise Refused(name, "extract_slice", f"has {len(df):,} rows and only columns of the "
                      "extract (no computed statistic): it is a slice of the extract")


def _extract_info(extract: Path | None) -> tuple[dict[str, str], set[str]]:
    """(sha256 → file name, column names) of the extract, from its manifest."""
    if extract is None or not (extract / "extract.json").is_file():
        return {}, set()
    manifest = json.loads((extract / "extract.json").read_text())
    tables = manifest["tables"].values()
    hashes = {t["sha256"]: t["file"] for t in tables}
    hashes[manifest["risk_report"]["sha256"]] = manifest["risk_report"]["file"]
    hashes[sha256(extract / "extract.json")] = "extract.json"
    return hashes, {c for t in tables for c in t["columns"]}


def _sidecar(root: Path, name: str) -> dict[str, Any] | None:
    side = root / (name + SIDECAR_SUFFIX)
    if not side.is_file() or side.is_symlink():
        return None
    try:
        data = json.loads(side.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Refused(name, "sidecar", "has a query sidecar that is not valid JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("query"), str):
        raise Refused(name, "sidecar", "has a query sidecar without a query")
    return data


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------- enclave outbox


def stage_submission(outbox: Path, workspace: Path, paths: list[Path], context: Context,
                     project_id: str, author: str, limits: Limits | None = None,
                     extract: Path | None = None) -> dict[str, Any]:
    """Copy requested files (and sidecars) into the enclave's outbox for the hub to collect.

    The kernel cannot write the airlock store; the hub side moves staged submissions in with
    :meth:`sdwh.airlock.service.AirlockService.collect_outbox`, validating them again.
    """
    extract = extract or _env_extract()
    accepted = validate_files(workspace, paths, limits or Limits(), extract)
    submission = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    tmp = outbox / f".tmp-{submission}"
    files_dir = tmp / "files"
    files_dir.mkdir(parents=True)
    for a in accepted:
        target = files_dir / a.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(a.path, target)
        if a.query is not None:
            target.with_name(target.name + SIDECAR_SUFFIX).write_text(json.dumps(a.query))
    payload = {"submission": submission, "project": project_id, "author": author,
               "context": context.model_dump(), "files": [
                   {"name": a.name, "sha256": a.sha256, "bytes": a.bytes} for a in accepted]}
    (tmp / "submission.json").write_text(json.dumps(payload, indent=2))
    os.rename(tmp, outbox / submission)
    return payload | {"status": "staged"}


def _env_extract() -> Path | None:
    value = os.environ.get("SDWH_PROJECT_EXTRACT")
    return Path(value) if value else None
