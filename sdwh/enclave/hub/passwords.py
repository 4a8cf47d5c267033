"""Password hashing and policy for hub accounts (stdlib scrypt; no extra dependency)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

#: scrypt cost: 2**14 rounds, 8 MiB per hash — slow enough for a login, fast enough for tests.
_N, _R, _P = 2**14, 8, 1
MIN_LENGTH = 12


def hash_password(password: str) -> str:
    """A self-describing hash ``scrypt$N$r$p$salt$digest`` (base64)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "$".join(["scrypt", str(_N), str(_R), str(_P),
                     base64.b64encode(salt).decode(), base64.b64encode(digest).decode()])


def verify_password(password: str, stored: str | None) -> bool:
    """True when ``password`` matches ``stored``; constant-time, False for any malformed hash."""
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r),
                             p=int(p), dklen=32)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


def password_problem(password: str, username: str) -> str | None:
    """Why ``password`` is not acceptable, or None. Length over composition (NIST 800-63B)."""
    if len(password) < MIN_LENGTH:
        return f"a password needs at least {MIN_LENGTH} characters"
    if username.lower() in password.lower():
        return "a password must not contain the account name"
    if len(set(password)) < 5:
        return "a password needs at least 5 different characters"
    return None


def new_code(length: int = 20) -> str:
    """A random one-time code (enrolment codes, demo passwords), unambiguous characters."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))
