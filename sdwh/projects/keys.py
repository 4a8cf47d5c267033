"""Per-project pseudonym keys: random, one per project, kept in ``<home>/secrets/projects``.

A project pseudonym is HMAC-SHA256(project key, warehouse pseudonym). Because each project has
its own random key (not derived from a master secret), two projects' extracts share no
identifier, and nobody holding one project's extract and key can link it to another's.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from sdwh.config import Settings
from sdwh.errors import SdwhError
from sdwh.ttp.pseudonym import PSEUDONYM_HEX

KEY_BYTES = 32


def key_path(settings: Settings, project_id: str) -> Path:
    return settings.secrets_dir / "projects" / f"{project_id}.key"


def project_key(settings: Settings, project_id: str) -> bytes:
    """The project's key, created (mode 0600, folder 0700) the first time it is needed."""
    path = key_path(settings, project_id)
    if not path.exists():
        _create(path)
    if path.stat().st_mode & 0o077:
        raise SdwhError(f"{path} is readable by other users.", f"Run: chmod 600 {path}")
    try:
        key = bytes.fromhex(path.read_text().strip())
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise SdwhError(f"{path} does not hold a {KEY_BYTES * 2}-hex-character key.",
                        "Restore it from the key backup; a new key changes every pseudonym.")
    return key


def _create(path: Path) -> None:
    for folder in (path.parent.parent, path.parent):
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(KEY_BYTES) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.link(tmp, path)  # never replaces a key another process created meanwhile
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


def key_id(key: bytes) -> str:
    """Public name of a key (first 8 hex of its SHA-256), recorded in extract manifests."""
    return hashlib.sha256(key).hexdigest()[:8]


def project_pseudonym(warehouse_pseudonym: str, key: bytes) -> str:
    """Reference implementation (the extract computes the same in DuckDB, see hmac_sql)."""
    import hmac

    return hmac.new(key, warehouse_pseudonym.encode("ascii"),
                    hashlib.sha256).hexdigest()[:PSEUDONYM_HEX]
