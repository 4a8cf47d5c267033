"""Development mode only: the project gate and the proxy's rules, but no isolation.

Servers run as the hub's own user, in the host's network, with the extract read from where it
lies. Useful on a laptop without root to work on notebooks and the UI; never with real data.
Secure mode (:class:`.spawner.EnclaveSpawner`) is what the enclave runs.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from urllib.parse import quote

from sdwh.enclave.hub.spawner import EnclaveSpawner, _make_dir


class DevelopmentSpawner(EnclaveSpawner):
    """EnclaveSpawner without namespaces or a separate account."""

    def make_preexec_fn(self, name: str):
        return None

    def user_env(self, env: dict[str, str]) -> dict[str, str]:
        """The hub's own user: hub accounts need no system account in development mode."""
        env["USER"] = self.user.name
        env["HOME"] = os.environ.get("HOME", "/tmp")
        return env

    def get_env(self) -> dict[str, str]:
        env = super().get_env()
        env["SDWH_PROJECT_EXTRACT"] = str(self._extract)
        return env

    def get_args(self) -> list[str]:
        args = super().get_args()
        return [*args, "--allow-root"] if os.geteuid() == 0 else args

    async def start(self) -> str:
        project, self._extract = await asyncio.to_thread(self._project)
        for path in (Path(self.runtime_dir), Path(self.runtime_dir) / "sessions",
                     self.session_dir, self.socket_path.parent, self.spool_dir):
            _make_dir(path, os.geteuid(), os.getegid(), 0o700)
        self.port = 8888
        await super(EnclaveSpawner, self).start()
        for _ in range(int(self.start_timeout * 10)):
            if self.socket_path.is_socket() or self.proc.poll() is not None:
                break
            await asyncio.sleep(0.1)
        url = "http+unix://" + quote(str(self.socket_path), safe="")
        self.server.connect_url = url + self.server.base_url
        self._audit("hub.spawn", project=project.id, extract=self._extract.name, pid=self.pid,
                    network="host (development mode: no isolation)")
        return url
