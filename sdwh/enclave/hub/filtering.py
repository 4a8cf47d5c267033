"""What the public entry point lets through to a researcher's server (pure rules, no I/O).

The rules sit in the root-owned proxy, so code in the researcher's kernel cannot change them:
even a server replaced by the researcher's own program only ever sees requests that passed
here, and only ever returns as many bytes as the session's budget allows.
"""

from __future__ import annotations

import posixpath
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote

#: Routes of Jupyter Server that hand out files or whole documents, or open a shell.
DENIED_PREFIXES = ("/files/", "/nbconvert/", "/view/", "/edit/", "/terminals/",
                   "/api/terminals")
#: File types whose content the contents API may return (code and notebooks, never data).
READABLE_SUFFIXES = frozenset({".ipynb", ".py", ".r", ".sql", ".md", ".txt", ".yml", ".yaml",
                               ".toml", ".cfg", ".ini", ".json", ".sh"})
#: JupyterLab's own assets: served by the server, not data; counted apart from the budget.
STATIC_PREFIXES = ("/static/", "/lab/extensions/", "/custom/", "/nbextensions/")
#: Largest request body passed on (saving a notebook with outputs fits; bulk upload does not).
MAX_REQUEST_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rule: str = ""

    @classmethod
    def allow(cls) -> Decision:
        return cls(True)

    @classmethod
    def deny(cls, rule: str) -> Decision:
        return cls(False, rule)


def split_server_path(path: str) -> tuple[str, str, str] | None:
    """``/user/<name>/<server>/<rest>`` → (name, server, ``/<rest>``); None for other paths."""
    parts = path.split("/", 4)
    if len(parts) < 4 or parts[0] != "" or parts[1] != "user" or not parts[2]:
        return None
    rest = "/" + parts[4] if len(parts) == 5 else "/"
    return unquote(parts[2]), unquote(parts[3]), rest


def check_request(method: str, subpath: str, query: str) -> Decision:
    """Decide on a request to a server from its path below the server's prefix and query."""
    path = posixpath.normpath(unquote(subpath)) + ("/" if subpath.endswith("/") else "")
    if ".." in subpath.split("/"):
        return Decision.deny("path traversal")
    for prefix in DENIED_PREFIXES:
        if path.startswith(prefix) or path == prefix.rstrip("/"):
            return Decision.deny(f"route {prefix.rstrip('/')} is closed in the enclave")
    params = parse_qs(query, keep_blank_values=True)
    if any(v.lower() not in ("0", "false") for v in params.get("download", [])):
        return Decision.deny("download requested")
    if path.startswith("/api/contents/") and method == "GET" and _wants_content(params):
        suffix = posixpath.splitext(path.rstrip("/"))[1].lower()
        if suffix and suffix not in READABLE_SUFFIXES:
            return Decision.deny(f"contents of {suffix} files are not handed out")
    return Decision.allow()


def check_contents_model(model: object) -> Decision:
    """A contents-API answer may carry notebooks, directories and code, not data files."""
    if not isinstance(model, dict) or model.get("content") is None:
        return Decision.allow()
    if model.get("type") in ("directory", "notebook"):
        return Decision.allow()
    suffix = posixpath.splitext(str(model.get("name", "")))[1].lower()
    if model.get("format") == "base64":
        return Decision.deny("binary file content")
    if suffix not in READABLE_SUFFIXES:
        return Decision.deny(f"contents of {suffix or 'extension-less'} files are not handed out")
    return Decision.allow()


def check_upload(body: object) -> Decision:
    """Saving notebooks and text is allowed; uploading binary files (base64) is not."""
    if isinstance(body, dict) and body.get("format") == "base64":
        return Decision.deny("binary upload")
    return Decision.allow()


def _wants_content(params: dict[str, list[str]]) -> bool:
    return params.get("content", ["1"])[-1] not in ("0", "false")


def is_static(subpath: str) -> bool:
    return subpath.startswith(STATIC_PREFIXES)


@dataclass
class SessionBudget:
    """Bytes a server session has sent to the browser, against its budget (thread-safe)."""

    limit: int
    data_bytes: int = 0
    static_bytes: int = 0
    sent_to_server: int = 0
    refused: int = 0
    exceeded: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def charge(self, n: int, static: bool = False) -> bool:
        """Count ``n`` outgoing bytes; False once the budget is spent (the caller cuts off)."""
        with self._lock:
            if static:
                self.static_bytes += n
                return True
            self.data_bytes += n
            if self.data_bytes > self.limit:
                self.exceeded = True
            return not self.exceeded

    def upload(self, n: int) -> None:
        with self._lock:
            self.sent_to_server += n

    def as_dict(self) -> dict[str, int | bool]:
        return {"data_bytes": self.data_bytes, "static_bytes": self.static_bytes,
                "bytes_to_server": self.sent_to_server, "limit": self.limit,
                "refused_requests": self.refused, "budget_exceeded": self.exceeded}
