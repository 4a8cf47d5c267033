"""Which quarters a build must (re)process: those touched by deliveries new since the last build.

The state file lists the delivery ids the last successful build read and a fingerprint of the
dbt project it ran. A delivery that is new (a new quarter, a revision, a late month) touches
the quarters of its reference period; a yearly delivery touches the four quarters of its year.
The build re-processes every quarter from the earliest one touched, so incremental and full
builds give the same rows. A changed project (models, macros, seeds, tests) means a full
build: old quarters were computed by other code.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

#: What a build's result depends on besides the raw store.
PROJECT_PARTS = ("dbt_project.yml", "models", "macros", "seeds", "tests/dbt")


def quarter_of_period(period: str) -> str:
    """First quarter a reference period (YYYY, YYYYQn or YYYY-MM) falls in."""
    if "Q" in period:
        return period
    if "-" in period:
        year, month = period.split("-")
        return f"{year}Q{(int(month) + 2) // 3}"
    return f"{period}Q1"


def project_fingerprint(project: Path) -> str:
    """SHA-256 over the names and bytes of every file the dbt project is made of."""
    digest = hashlib.sha256()
    for part in PROJECT_PARTS:
        root = project / part
        files = sorted(root.rglob("*")) if root.is_dir() else [root]
        for f in files:
            if f.is_file():
                digest.update(str(f.relative_to(project)).encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()


def read_state(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    return set(json.loads(path.read_text())["delivery_ids"])


def read_fingerprint(path: Path) -> str | None:
    """The project fingerprint of the last successful build (None before the first)."""
    if not path.is_file():
        return None
    return json.loads(path.read_text()).get("project")


def write_state(path: Path, delivery_ids: set[str], fingerprint: str | None = None) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"delivery_ids": sorted(delivery_ids), "project": fingerprint},
                              indent=1))
    tmp.replace(path)


def refresh_from(previous: set[str], current: list[tuple[str, str, str, str]]) -> str | None:
    """Earliest quarter touched by a current delivery the previous build did not read.

    ``None`` means nothing changed. A delivery that disappeared from the current set (now
    superseded) is replaced by its revision, which is new, so it is covered too.
    """
    touched = [quarter_of_period(period) for did, _, _, period in current if did not in previous]
    return min(touched) if touched else None
