"""Custody of the TTP key: from the environment, or created once in ``<home>/secrets``.

The key never leaves the TTP step: it is not logged, not written to the raw store and not
readable by other accounts (file mode 0600, folder 0700). Its *id* (a hash prefix) is
recorded with every delivery so a rotation shows which key made which pseudonyms.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from sdwh.config import Settings
from sdwh.errors import SdwhError

KEY_BYTES = 32


def _parse(hex_key: str, origin: str) -> bytes:
    try:
        key = bytes.fromhex(hex_key.strip())
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise SdwhError(
            f"The TTP key in {origin} is not {KEY_BYTES * 2} hexadecimal characters.",
            "Generate one with: python -c 'import secrets; print(secrets.token_hex(32))'")
    return key


def _create_key_file(path: Path) -> None:
    """Write a fresh random key with mode 0600, atomically (never a half-written key)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(KEY_BYTES) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def ttp_key(settings: Settings) -> bytes:
    """The pseudonymisation key: ``SDWH_TTP_KEY`` if set, else ``<home>/secrets/ttp.key``."""
    if settings.ttp_key is not None:
        return _parse(settings.ttp_key.get_secret_value(), "SDWH_TTP_KEY")
    path = settings.secrets_dir / "ttp.key"
    if not path.exists():
        _create_key_file(path)
    if path.stat().st_mode & 0o077:
        raise SdwhError(f"{path} is readable by other users.", f"Run: chmod 600 {path}")
    return _parse(path.read_text(), str(path))


def key_id(key: bytes) -> str:
    """A public, non-reversible name for a key (first 8 hex of its SHA-256)."""
    return hashlib.sha256(key).hexdigest()[:8]
