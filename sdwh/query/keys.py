"""Custody of the cell key secret: ``SDWH_API_CELLKEY_KEY`` or ``<home>/secrets/cellkey.key``.

The secret makes record keys unguessable; it must stay the same for as long as tables are
published, because a new secret gives every cell new noise, and two noisy versions of the same
cell average towards the true count.
"""

from __future__ import annotations

import hashlib
import os
import secrets

from sdwh.config import Settings
from sdwh.errors import SdwhError

KEY_BYTES = 32


def _parse(hex_key: str, origin: str) -> bytes:
    try:
        key = bytes.fromhex(hex_key.strip())
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise SdwhError(f"The cell key secret in {origin} is not {KEY_BYTES * 2} hex "
                        "characters.", "Generate one with: "
                        "python -c 'import secrets; print(secrets.token_hex(32))'")
    return key


def cellkey_secret(settings: Settings) -> bytes:
    """The secret: from the environment, else the key file (created once, mode 0600)."""
    if settings.api_cellkey_key is not None:
        return _parse(settings.api_cellkey_key.get_secret_value(), "SDWH_API_CELLKEY_KEY")
    path = settings.secrets_dir / "cellkey.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(KEY_BYTES) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    if path.stat().st_mode & 0o077:
        raise SdwhError(f"{path} is readable by other users.", f"Run: chmod 600 {path}")
    return _parse(path.read_text(), str(path))


def key_id(key: bytes) -> str:
    """A public name for the secret (first 8 hex of its SHA-256), kept in the cube metadata."""
    return hashlib.sha256(key).hexdigest()[:8]
