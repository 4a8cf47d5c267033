"""User-facing errors: one clear sentence plus a hint, caught once at the CLI boundary."""

from __future__ import annotations


class SdwhError(Exception):
    """An error a user can act on. ``str(err)`` is the sentence; ``hint`` says what to do."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def as_dict(self) -> dict[str, str]:
        return {"error": self.message, "hint": self.hint}


class DeliveryRejected(SdwhError):
    """A delivery broke a structural rule of its contract; nothing of it was stored."""

    def __init__(self, file: str, rule: str, message: str, hint: str = "") -> None:
        super().__init__(f"{file}: {message} [rule {rule}]", hint)
        self.file = file
        self.rule = rule
