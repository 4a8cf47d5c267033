"""The proxy's own proof of login: an HMAC-signed cookie set by the hub at login.

Jupyter Server's cookies are made and checked inside the researcher's server, which the
researcher's code controls. The proxy therefore checks its own cookie (or a hub API token)
before any request reaches a server, so a server that was replaced from inside cannot be
reached by anyone but its logged-in owner.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

COOKIE_NAME = "sdwh-enclave"


class SessionSigner:
    """Signs and checks ``username|expiry`` with a key that lives only in the hub process."""

    def __init__(self, key: bytes | None = None) -> None:
        self.key = key or secrets.token_bytes(32)

    def sign(self, username: str, lifetime: int, now: float | None = None) -> str:
        expiry = int((now if now is not None else time.time()) + lifetime)
        payload = f"{username}|{expiry}".encode()
        mac = hmac.new(self.key, payload, hashlib.sha256).digest()
        return (base64.urlsafe_b64encode(payload).decode().rstrip("=") + "."
                + base64.urlsafe_b64encode(mac).decode().rstrip("="))

    def username(self, cookie: str | None, now: float | None = None) -> str | None:
        """The user the cookie was issued to, if the signature holds and it has not expired."""
        if not cookie or "." not in cookie:
            return None
        try:
            raw_payload, raw_mac = cookie.split(".", 1)
            payload = base64.urlsafe_b64decode(raw_payload + "=" * (-len(raw_payload) % 4))
            mac = base64.urlsafe_b64decode(raw_mac + "=" * (-len(raw_mac) % 4))
            username, expiry = payload.decode().rsplit("|", 1)
        except (ValueError, UnicodeDecodeError):
            return None
        good = hmac.new(self.key, payload, hashlib.sha256).digest()
        if not hmac.compare_digest(mac, good):
            return None
        if int(expiry) < (now if now is not None else time.time()):
            return None
        return username


#: One signer per hub process, shared by the authenticator (signs) and the proxy (checks).
SIGNER = SessionSigner()
