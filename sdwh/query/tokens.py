"""API tokens of policy services: created by VSA staff, stored hashed, with roles and limits.

A token reads ``sdwh_<id>_<secret>``: the id finds the row, the secret is compared by its
SHA-256 in constant time. Only the hash is stored (``<home>/query/tokens.sqlite``, mode 0600),
so a copy of the file grants nothing; the secret is shown once, at creation. SHA-256 without a
slow KDF is enough because secrets are 256-bit random, not passwords.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import sqlite3
from contextlib import closing
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sdwh.errors import SdwhError

ROLES = ("tables", "sql")  # tables: catalogue and table builder; sql: guarded SQL as well
TOKEN = re.compile(r"^sdwh_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
SERVICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{1,63}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    service TEXT NOT NULL,
    roles TEXT NOT NULL,
    rate_limit INTEGER,
    secret_sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at TEXT
)
"""


@dataclass(frozen=True)
class Token:
    id: str
    service: str
    roles: tuple[str, ...]
    rate_limit: int | None
    created_at: str
    created_by: str
    revoked_at: str | None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "roles": list(self.roles)}


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class TokenStore:
    """The token table; every method opens its own short connection (safe across threads)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        con = sqlite3.connect(self.path, timeout=10)
        con.execute(_SCHEMA)
        return con

    def create(self, service: str, roles: list[str], rate_limit: int | None = None,
               created_by: str = "cli") -> tuple[Token, str]:
        """A new token; returns it with the plain secret (shown once, never stored)."""
        if not SERVICE.match(service):
            raise SdwhError(f"'{service}' is not a valid policy-service name.",
                            "Use 2-64 letters, digits, spaces, dots, dashes or underscores.")
        bad = [r for r in roles if r not in ROLES]
        if bad or not roles:
            raise SdwhError(f"Unknown role(s): {', '.join(bad) or '(none given)'}.",
                            f"Roles: {', '.join(ROLES)}.")
        if rate_limit is not None and rate_limit < 1:
            raise SdwhError("The rate limit must be at least 1 request per minute.", "")
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        row = Token(token_id, service, tuple(sorted(set(roles))), rate_limit, _now(), created_by,
                    None)
        with closing(self._connect()) as con, con:
            con.execute("INSERT INTO tokens VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                        (row.id, row.service, ",".join(row.roles), rate_limit, _sha256(secret),
                         row.created_at, created_by))
        return row, f"sdwh_{token_id}_{secret}"

    def verify(self, presented: str) -> Token | None:
        """The active token ``presented`` stands for, or None (unknown, wrong or revoked)."""
        m = TOKEN.match(presented or "")
        if not m:
            return None
        with closing(self._connect()) as con:
            r = con.execute("SELECT id, service, roles, rate_limit, created_at, created_by, "
                            "revoked_at, secret_sha256 FROM tokens WHERE id = ?",
                            (m.group(1),)).fetchone()
        if r is None or r[6] is not None:
            return None
        if not hmac.compare_digest(r[7], _sha256(m.group(2))):
            return None
        return Token(r[0], r[1], tuple(r[2].split(",")), r[3], r[4], r[5], r[6])

    def get(self, token_id: str) -> Token | None:
        with closing(self._connect()) as con:
            r = con.execute("SELECT id, service, roles, rate_limit, created_at, created_by, "
                            "revoked_at FROM tokens WHERE id = ?", (token_id,)).fetchone()
        return None if r is None else Token(r[0], r[1], tuple(r[2].split(",")), r[3], r[4],
                                            r[5], r[6])

    def list(self) -> list[Token]:
        with closing(self._connect()) as con:
            ids = [r[0] for r in con.execute("SELECT id FROM tokens ORDER BY created_at, id")]
        return [t for t in (self.get(i) for i in ids) if t is not None]

    def revoke(self, token_id: str) -> Token:
        if self.get(token_id) is None:
            raise SdwhError(f"There is no token '{token_id}'.", "`sdwh api token list` shows them.")
        with closing(self._connect()) as con, con:
            con.execute("UPDATE tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?",
                        (_now(), token_id))
        token = self.get(token_id)
        assert token is not None
        return token
