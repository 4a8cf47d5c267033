"""The in-server layer, loaded by the researcher's Jupyter Server from its command line.

This is friction, not the boundary (the researcher's code runs under the same uid as this
server; the boundary is the hub's proxy). It is passed as ``--ServerApp.contents_manager_class``
so that a server that cannot import it exits instead of starting without it (fail-closed), and
it removes the ``/files`` handler and refuses data files and binary uploads in the contents API.
Only jupyter_server is imported here: this module runs in the enclave's Python environment.
"""

from __future__ import annotations

import posixpath

from jupyter_server.services.contents.largefilemanager import LargeFileManager
from tornado.web import HTTPError

READABLE_SUFFIXES = frozenset({".ipynb", ".py", ".r", ".sql", ".md", ".txt", ".yml", ".yaml",
                               ".toml", ".cfg", ".ini", ".json", ".sh"})


class EnclaveContentsManager(LargeFileManager):
    """Contents API without data files: notebooks and code only, no binary uploads."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.files_handler_class = None  # no /files/ route at all
        self.allow_hidden = False

    def get(self, path, content=True, type=None, format=None, **kwargs):
        model = super().get(path, content=False, type=type, format=format, **kwargs)
        if content and model["type"] == "file":
            suffix = posixpath.splitext(path)[1].lower()
            if suffix not in READABLE_SUFFIXES or format == "base64":
                raise HTTPError(403, f"{suffix or 'This'} files cannot be opened from the "
                                "enclave; read them in a notebook.")
        if not content:
            return model
        return super().get(path, content=True, type=type, format=format, **kwargs)

    def save(self, model, path=""):
        if model.get("format") == "base64" or model.get("chunk"):
            raise HTTPError(403, "Uploading files into the enclave is not allowed.")
        return super().save(model, path)
