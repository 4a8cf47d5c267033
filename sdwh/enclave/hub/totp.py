"""The second factor: RFC 6238 time-based one-time passwords (pyotp), with replay protection.

A code is accepted for the current 30-second step and one step either side (clock drift), and
only once: the store keeps the last accepted step and :func:`accepted_step` refuses any step at
or before it, so a code seen over a shoulder cannot be used again.
"""

from __future__ import annotations

import hmac

import pyotp

STEP_SECONDS = 30
ISSUER = "VSA enclave"


def new_secret() -> str:
    """A fresh base32 secret (160 bits) for an authenticator app."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, username: str) -> str:
    """The ``otpauth://`` URI an authenticator app scans (shown as a QR code at enrolment)."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def code_at(secret: str, when: float) -> str:
    """The code an authenticator app shows at unix time ``when`` (tests and the demo use it)."""
    return pyotp.TOTP(secret).at(int(when))


def accepted_step(secret: str, code: str, now: float, last_step: int | None) -> int | None:
    """The time step ``code`` belongs to if it is valid now and not replayed, else None."""
    code = (code or "").replace(" ", "").strip()
    if len(code) != 6 or not code.isdigit():
        return None
    current = int(now // STEP_SECONDS)
    totp = pyotp.TOTP(secret)
    for step in (current - 1, current, current + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None
