"""One named server per active project, under the researcher's own account, sandboxed.

The server name *is* the project id. A spawn is refused (403) unless the registry says the
user is granted that project and the project is active today; a running session is stopped as
soon as that stops being true (checked at every poll). Each server:

* runs as the researcher's OS account, in its own network namespace (loopback only) and
  mount namespace (:mod:`.isolation`): the project's workspace is its home, the project's frozen
  extract is mounted read-only at ``~/extract``, the data root is covered;
* listens on a unix socket in a per-session directory that the hub hands to root once the
  server has bound it, so code in a kernel cannot replace the socket with its own server;
* gets the in-server layer on its command line (fail-closed, :mod:`.inserver`);
* writes its helper's audit events to a spool that the hub moves into the audit chain.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import signal
import stat
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jupyterhub.spawner import LocalProcessSpawner, SpawnException, set_user_setuid
from jupyterhub.utils import maybe_future
from traitlets import Any as AnyTrait
from traitlets import Unicode

from sdwh.enclave.hub import isolation


class Refusal(Exception):
    """Why a server may not run: a reason for the audit log, a message for the person."""

    def __init__(self, reason: str, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.reason, self.message, self.status = reason, message, status


def project_gate(settings: Any, username: str, server_name: str, on: date) -> tuple[Any, Path]:
    """(project, current extract) if ``username`` may run server ``server_name`` on ``on``.

    The server name is the project id; the registry decides (active, granted, within its
    dates). Shared by the local spawner and the Kubernetes configuration (:mod:`.k8s`).
    """
    from sdwh.projects.registry import Registry

    if not server_name:
        raise Refusal("no project chosen", "Start the server of one of your projects.")
    registry = Registry(settings)
    granted = {p.id: p for p in registry.active_projects_for(username, on)}
    project = granted.get(server_name)
    if project is None:
        raise Refusal("not granted or not active",
                      f"You have no active authorisation for project {server_name!r}.")
    extract = registry.current_extract(project.id)
    if extract is None:
        raise Refusal("no extract", f"Project {server_name!r} has no extract yet; VSA staff "
                      "create it with `sdwh project extract`.", status=409)
    return project, extract


ENFORCEMENT_ARGS = [
    "--ServerApp.contents_manager_class=sdwh.enclave.hub.inserver.EnclaveContentsManager",
    "--ServerApp.terminals_enabled=False",
    "--ServerApp.allow_remote_access=False",
    "--LabApp.news_url=None",
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    "--ZMQChannelsWebsocketConnection.iopub_data_rate_limit=2000000",
]


class EnclaveSpawner(LocalProcessSpawner):
    """LocalProcessSpawner with the project gate, namespaces and a lockable unix socket."""

    enclave_env = Unicode(config=True, help="Python environment of the researcher side.")
    runtime_dir = Unicode(config=True, help="Root-owned directory for sockets and spools.")
    settings = AnyTrait(None, allow_none=True, config=True, help="sdwh Settings.")
    audit = AnyTrait(None, allow_none=True, config=True, help="Audit callable.")

    # ------------------------------------------------------------------ the gate
    def _project(self) -> tuple[Any, Path]:
        """The project this server is for and its current extract; SpawnException if none."""
        try:
            return project_gate(self.settings, self.user.name, self.name, date.today())
        except Refusal as refusal:
            self._refuse(refusal.reason, refusal.message, refusal.status)
            raise  # unreachable: _refuse raises

    def _refuse(self, reason: str, message: str, status: int = 403) -> None:
        self._audit("hub.spawn_refused", project=self.name, reason=reason)
        raise SpawnException(message, reason=reason, status_code=status)

    async def run_pre_spawn_hook(self) -> Any:
        await asyncio.to_thread(self._project)
        return await maybe_future(super().run_pre_spawn_hook())

    # ------------------------------------------------------------------ paths
    @property
    def session_dir(self) -> Path:
        return Path(self.runtime_dir) / "sessions" / f"{self.user.name}--{self.name}"

    @property
    def socket_path(self) -> Path:
        return self.session_dir / "sock" / "server.sock"

    @property
    def spool_dir(self) -> Path:
        return self.session_dir / "spool"

    @property
    def outbox_dir(self) -> Path:
        """Where ``project.request_export`` stages files for the airlock (hub collects)."""
        return self.session_dir / "outbox"

    def _open_workspace(self, account: pwd.struct_passwd) -> int:
        """An fd of ``~/.sdwh/projects/<id>`` (made if needed, owned by the researcher).

        Walked with ``openat`` and O_NOFOLLOW from the home directory, and later mounted from
        the fd: a researcher's other session cannot swap a component for a symlink to make
        the hub mount some other directory (another project's extract) as this home.
        """
        fd = os.open(account.pw_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            for part in (".sdwh", "projects", self.name):
                fd = _open_dir_at(fd, part, account.pw_uid, account.pw_gid, 0o700)
            os.close(_open_dir_at(os.dup(fd), "extract", 0, 0, 0o755))  # the mount point
            _offer_notebook(fd, account.pw_uid, account.pw_gid)
        except OSError as err:
            os.close(fd)
            raise SpawnException(f"The workspace of {self.user.name} is not a plain directory "
                                 f"({err.strerror}); ask VSA to check the account.",
                                 reason="unsafe path", status_code=500) from None
        return fd

    def _prepare(self, account: pwd.struct_passwd) -> None:
        for path in (Path(self.runtime_dir), Path(self.runtime_dir) / "sessions"):
            _make_dir(path, 0, 0, 0o711)
        if self.session_dir.exists():
            shutil.rmtree(self.session_dir)
        _make_dir(self.session_dir, 0, 0, 0o711)
        _make_dir(self.socket_path.parent, account.pw_uid, account.pw_gid, 0o700)
        _make_dir(self.spool_dir, account.pw_uid, account.pw_gid, 0o700)
        _make_dir(self.outbox_dir, account.pw_uid, account.pw_gid, 0o700)

    # ------------------------------------------------------------------ start / poll / stop
    def make_preexec_fn(self, name: str):
        """Enter the sandbox as root, then become the researcher (LocalProcessSpawner calls it)."""
        plan, setuid = self._plan, set_user_setuid(name)

        def preexec() -> None:
            isolation.enter(plan)
            setuid()

        return preexec

    def get_args(self) -> list[str]:
        """Socket and enforcement first: a class that cannot load stops the server (exit 1)."""
        return ["--sock", str(self.socket_path), *ENFORCEMENT_ARGS, *super().get_args()]

    def get_env(self) -> dict[str, str]:
        env = super().get_env()
        for key in [k for k in env if k.startswith("SDWH_")]:
            del env[key]
        env.update({
            "PATH": f"{self.enclave_env}/bin:/usr/local/bin:/usr/bin:/bin",
            "PYTHONPATH": str(Path(__file__).resolve().parents[3]),
            "SDWH_PROJECT_ID": self.name,
            "SDWH_PROJECT_EXTRACT": str(Path(env["HOME"]) / "extract"),
            "SDWH_AUDIT_SPOOL": str(self.spool_dir),
            "SDWH_AIRLOCK_OUTBOX": str(self.outbox_dir),
            "SDWH_WORKSPACE": env["HOME"],
            "JUPYTER_PLATFORM_DIRS": "1",
        })
        return env

    async def start(self) -> str:
        project, extract = await asyncio.to_thread(self._project)
        try:
            account = pwd.getpwnam(self.user.name)
        except KeyError:
            self._refuse("no OS account", f"There is no system account for {self.user.name}; "
                         "ask VSA to create it.", status=500)
        await asyncio.to_thread(self._prepare, account)
        workspace_fd = await asyncio.to_thread(self._open_workspace, account)
        home = Path(account.pw_dir)
        workspace = home / ".sdwh" / "projects" / self.name
        try:
            ws, ex = os.fstat(workspace_fd), os.stat(extract)
        finally:
            os.close(workspace_fd)
        self._plan = isolation.SandboxPlan(
            writable_binds=[(workspace, home)],
            readonly_binds=[(extract, home / "extract")],
            hidden=[self.settings.root, *self._extra_hidden()],
            private_tmp=[Path("/tmp"), Path("/dev/shm")],
            software=[Path(__file__).resolve().parents[3], Path(self.enclave_env).resolve()],
            expected={str(home): (ws.st_dev, ws.st_ino),
                      str(home / "extract"): (ex.st_dev, ex.st_ino)},
        )
        self.port = 8888  # required by jupyterhub-singleuser; ignored when --sock is given
        self.notebook_dir = str(home)
        await super().start()
        await self._wait_and_lock_socket()
        self.netns = os.stat(f"/proc/{self.pid}/ns/net").st_ino
        url = "http+unix://" + quote(str(self.socket_path), safe="")
        self.server.connect_url = url + self.server.base_url
        self._audit("hub.spawn", project=project.id, extract=extract.name,
                    pid=self.pid, network="loopback-only namespace")
        return url

    async def _wait_and_lock_socket(self) -> None:
        """Wait for the server's socket, then make its directory root's: no one replaces it."""
        for _ in range(int(self.start_timeout * 10)):
            if self.socket_path.is_socket():
                break
            if self.proc.poll() is not None:
                raise SpawnException(
                    "The server stopped while starting (its enforcement could not load?).",
                    reason="server exited", status_code=500)
            await asyncio.sleep(0.1)
        else:
            raise SpawnException("The server did not open its socket in time.",
                                 reason="no socket", status_code=500)
        os.chown(self.socket_path.parent, 0, 0)
        os.chmod(self.socket_path.parent, 0o755)

    async def poll(self) -> int | None:
        status = await super().poll()
        self._collect_spool()
        if status is None and self.name:
            try:
                await asyncio.to_thread(self._project)
            except SpawnException as ended:
                self.log.warning("Stopping %s: %s", self._log_name, ended.log_message)
                self._audit("hub.session_ended", project=self.name,
                            reason="authorisation ended")
                await self.stop(now=True)
                return 0
        return status

    async def stop(self, now: bool = False) -> None:
        netns = getattr(self, "netns", None)
        await super().stop(now=now)
        if netns:
            _kill_namespace(netns)
        self._collect_spool()
        shutil.rmtree(self.session_dir, ignore_errors=True)
        self._audit("hub.stop", project=self.name)

    # ------------------------------------------------------------------ helpers
    def _extra_hidden(self) -> list[Path]:
        repo_var = Path(__file__).resolve().parents[3] / "var"
        return [repo_var] if repo_var.is_dir() and repo_var != self.settings.root else []

    def _collect_spool(self) -> None:
        """Move the session's audit claims into the chain and its export requests into the
        airlock (both written from inside the sandbox, so both are validated here)."""
        if self.settings is None or not self.spool_dir.is_dir():
            return
        self._collect_outbox()
        from sdwh.audit.log import audit_log
        from sdwh.audit.spool import collect

        try:
            collect(self.spool_dir, audit_log(self.settings), self.user.name)
        except (OSError, ValueError) as err:
            self.log.error("Could not collect the audit spool of %s: %s", self._log_name, err)

    def _collect_outbox(self) -> None:
        if not self.outbox_dir.is_dir() or not any(
                p for p in self.outbox_dir.iterdir() if not p.name.startswith(".")):
            return
        from sdwh.airlock.service import AirlockService
        from sdwh.errors import SdwhError

        try:
            AirlockService(self.settings).collect_outbox(self.outbox_dir, self.name,
                                                         self.user.name)
        except (SdwhError, OSError, ValueError, KeyError) as err:
            self.log.error("Could not collect the airlock outbox of %s: %s", self._log_name, err)
            self._audit("airlock.collect_failed", project=self.name, error=str(err)[:300])

    def _audit(self, event: str, **details: Any) -> None:
        if self.audit is not None:
            self.audit(event, self.user.name, **details)


def _open_dir_at(parent: int, name: str, uid: int, gid: int, mode: int) -> int:
    """Open (making it if needed) directory ``name`` under the fd ``parent``, never following
    a symlink; set owner and mode; close ``parent``; return the new fd."""
    try:
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, mode, dir_fd=parent)
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
    finally:
        os.close(parent)
    os.fchown(fd, uid, gid)
    os.fchmod(fd, mode)
    return fd


GETTING_STARTED = Path(__file__).resolve().parents[1] / "notebooks" / "getting-started.ipynb"


def _offer_notebook(workspace: int, uid: int, gid: int) -> None:
    """Put the getting-started notebook in a workspace that has none (never overwrites)."""
    if not GETTING_STARTED.is_file():
        return
    try:
        fd = os.open(GETTING_STARTED.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                     0o600, dir_fd=workspace)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as out:
        out.write(GETTING_STARTED.read_bytes())
        os.fchown(out.fileno(), uid, gid)


def _make_dir(path: Path, uid: int, gid: int, mode: int) -> None:
    """Create or fix a directory without following symlinks a researcher may have planted."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        os.mkdir(path, mode)
        info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise SpawnException(f"{path} is not a plain directory; ask VSA to check the account.",
                             reason="unsafe path", status_code=500)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def _kill_namespace(netns_inode: int) -> None:
    """SIGKILL every process left in the session's network namespace (kernels included)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.stat(entry / "ns" / "net").st_ino == netns_inode:
                os.kill(int(entry.name), signal.SIGKILL)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
