"""Hub accounts: who may log in, with which password and TOTP secret, and enrolment.

VSA staff add an account (``sdwh serve account add``), which prints a one-time enrolment code.
The person opens ``/hub/enrol``, gives the code, chooses a password and scans a TOTP secret; the
account is usable only once the first code from their app has been checked. Login then needs
password *and* a fresh code. Five failures in a row lock the account for five minutes.

The store is one JSON file (mode 0600) under ``$SDWH_HOME/hub``, rewritten whole and atomically
under an exclusive lock, so the hub and the CLI can both change it.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel

from sdwh.enclave.hub import passwords, totp
from sdwh.errors import SdwhError

MAX_FAILURES = 5
LOCK_SECONDS = 300
ENROLMENT_DAYS = 7


class Role(StrEnum):
    RESEARCHER = "researcher"
    STAFF = "staff"


class Account(BaseModel):
    username: str
    role: Role
    password_hash: str | None = None
    totp_secret: str | None = None
    last_step: int | None = None
    enrol_code_hash: str | None = None
    enrol_expires: float | None = None
    pending_secret: str | None = None
    failures: int = 0
    locked_until: float = 0.0
    disabled: bool = False

    @property
    def enrolled(self) -> bool:
        return bool(self.password_hash and self.totp_secret)


class LoginRefused(Exception):
    """A login or enrolment step failed; ``reason`` is for the audit log, not the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AccountStore:
    """The account file. Every method reads, changes and writes it under one lock."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock

    # ------------------------------------------------------------------ storage
    @contextmanager
    def _locked(self) -> Iterator[dict[str, Account]]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            accounts = self._read()
            before = {k: v.model_dump() for k, v in accounts.items()}
            try:
                yield accounts
            finally:  # failure counters must be kept when a step is refused
                if {k: v.model_dump() for k, v in accounts.items()} != before:
                    self._write(accounts)
        finally:
            os.close(lock)

    def _read(self) -> dict[str, Account]:
        if not self.path.exists():
            return {}
        doc = json.loads(self.path.read_text())
        return {name: Account.model_validate(a) for name, a in doc.items()}

    def _write(self, accounts: dict[str, Account]) -> None:
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({k: v.model_dump(mode="json") for k, v in sorted(accounts.items())}, f,
                      indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def get(self, username: str) -> Account | None:
        with self._locked() as accounts:
            return accounts.get(username)

    def list(self) -> list[Account]:
        with self._locked() as accounts:
            return list(accounts.values())

    # ------------------------------------------------------------------ staff actions
    def add(self, username: str, role: Role) -> str:
        """Create an account awaiting enrolment; returns the one-time enrolment code."""
        code = passwords.new_code()
        with self._locked() as accounts:
            if username in accounts and accounts[username].enrolled:
                raise SdwhError(f"Account {username} already exists and is enrolled.",
                                "Use `sdwh serve account reset` to make it enrol again.")
            accounts[username] = Account(
                username=username, role=role, enrol_code_hash=passwords.hash_password(code),
                enrol_expires=self.clock() + ENROLMENT_DAYS * 86400)
        return code

    def reset(self, username: str) -> str:
        """Forget password and TOTP secret (lost phone); returns a new enrolment code."""
        with self._locked() as accounts:
            if username not in accounts:
                raise SdwhError(f"There is no account {username}.",
                                "List accounts with `sdwh serve account list`.")
            role = accounts[username].role
            del accounts[username]
        return self.add(username, role)

    def add_enrolled(self, username: str, role: Role, password: str, secret: str) -> None:
        """An account that is enrolled already (demo and tests only)."""
        with self._locked() as accounts:
            accounts[username] = Account(username=username, role=role,
                                         password_hash=passwords.hash_password(password),
                                         totp_secret=secret)

    def remove(self, username: str) -> None:
        with self._locked() as accounts:
            accounts.pop(username, None)

    # ------------------------------------------------------------------ login
    def check_login(self, username: str, password: str, code: str) -> Account:
        """The account if password and a fresh TOTP code are right; else LoginRefused."""
        now = self.clock()
        with self._locked() as accounts:
            account = accounts.get(username)
            if account is None:
                passwords.verify_password(password, _DUMMY_HASH)  # same time as a real check
                raise LoginRefused("unknown account")
            if account.disabled:
                raise LoginRefused("account disabled")
            if not account.enrolled:
                raise LoginRefused("not enrolled")
            if account.locked_until > now:
                raise LoginRefused("locked after repeated failures")
            password_ok = passwords.verify_password(password, account.password_hash)
            step = totp.accepted_step(account.totp_secret or "", code, now, account.last_step)
            if not password_ok or step is None:
                account.failures += 1
                if account.failures >= MAX_FAILURES:
                    account.locked_until = now + LOCK_SECONDS
                    account.failures = 0
                raise LoginRefused("wrong password" if not password_ok else
                                   "wrong or reused one-time code")
            account.failures = 0
            account.last_step = step
            return account.model_copy()

    # ------------------------------------------------------------------ enrolment
    def begin_enrolment(self, username: str, code: str) -> str:
        """Check the enrolment code; returns a new TOTP secret kept pending until confirmed."""
        with self._locked() as accounts:
            account = self._enrolling(accounts, username, code)
            account.pending_secret = totp.new_secret()
            return account.pending_secret

    def finish_enrolment(self, username: str, code: str, password: str, otp: str) -> Account:
        """Set the password and activate the pending TOTP secret once its first code checks."""
        now = self.clock()
        with self._locked() as accounts:
            account = self._enrolling(accounts, username, code)
            problem = passwords.password_problem(password, username)
            if problem:
                raise LoginRefused(problem)
            if not account.pending_secret:
                raise LoginRefused("enrolment not begun")
            step = totp.accepted_step(account.pending_secret, otp, now, None)
            if step is None:
                raise LoginRefused("the code from the app did not match; check the phone's clock")
            account.password_hash = passwords.hash_password(password)
            account.totp_secret, account.pending_secret = account.pending_secret, None
            account.last_step = step
            account.enrol_code_hash = account.enrol_expires = None
            return account.model_copy()

    def _enrolling(self, accounts: dict[str, Account], username: str, code: str) -> Account:
        account = accounts.get(username)
        if account is None or not account.enrol_code_hash:
            raise LoginRefused("no enrolment open for this account")
        if (account.enrol_expires or 0) < self.clock():
            raise LoginRefused("enrolment code expired")
        if not passwords.verify_password(code.strip(), account.enrol_code_hash):
            account.failures += 1
            if account.failures >= MAX_FAILURES:
                account.enrol_code_hash = None
            raise LoginRefused("wrong enrolment code")
        return account


_DUMMY_HASH = passwords.hash_password("not a real password")
