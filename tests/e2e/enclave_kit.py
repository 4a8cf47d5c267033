"""Helpers for driving a real enclave hub: fixture projects, system accounts, the hub process,
and an HTTP/websocket client that logs in with password + TOTP like a browser would.

Used by the end-to-end tests and by benchmarks/bench_hub.py. Everything talks to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import aiohttp
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"
#: System accounts are per run (several test runs may share a machine).
_RUN = f"{os.getpid() % 0xFFFF:04x}"
ALICE, BOB = f"e2ea{_RUN}", f"e2eb{_RUN}"
CENSUS, HEALTH, ENDED = "census-e2e", "health-e2e", "ended-e2e"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def can_isolate() -> str | None:
    """Why the secure hub cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root"
    if not (REPO / ".venv-enclave" / "bin" / "jupyterhub-singleuser").exists():
        return "enclave environment missing (make hub-env)"
    return None


# ---------------------------------------------------------------------- fixture data
def make_project(settings, project_id: str, researchers: list[str], rows: int = 500,
                 end: date | None = None, secret_marker: str = "") -> Path:
    """A registered, active project with a small frozen extract in the registry's layout."""
    from sdwh.projects.registry import Registry
    from sdwh.projects.states import ProjectAction

    registry = Registry(settings)
    today = date.today()
    registry.create(
        "vsa-intake", id=project_id, title=f"Fixture project {project_id}",
        organisation="KU Leuven", legal_basis="GDPR art. 89", accredited=researchers,
        datasets=["thm_labour_market_panel"], variables=["quarter", "age_band"],
        period_from="2024Q1", period_to="2025Q4", start_date=today - timedelta(days=60),
        end_date=end or today + timedelta(days=30),
        retention_until=(end or today + timedelta(days=30)) + timedelta(days=365))
    registry.approve(project_id, "vsa-staff", deliberation_ref="IVC/25/001")
    # A project that has ended already was activated and granted while it ran.
    when = datetime.combine(min(today, end or today), datetime.min.time(), UTC)
    registry.change(project_id, ProjectAction.ACTIVATE, "vsa-staff", now=when)
    for name in researchers:
        registry.change(project_id, ProjectAction.GRANT, "vsa-staff", now=when, username=name)
    root = settings.root / "projects" / project_id / "extracts"
    folder = root / "e0001"
    folder.mkdir(parents=True, exist_ok=True)
    bands = ["15-24", "25-49", "50-64", "65+"]
    table = pa.table({
        "person_id": [f"{project_id[:3]}{i:06d}{secret_marker}" for i in range(rows)],
        "quarter": [f"2024Q{1 + i % 4}" for i in range(rows)],
        "age_band": [bands[i % 4] for i in range(rows)],
    })
    pq.write_table(table, folder / "thm_labour_market_panel.parquet")
    digest = hashlib.sha256((folder / "thm_labour_market_panel.parquet").read_bytes())
    (folder / "risk.json").write_text(json.dumps({"summary": {}}))
    risk = hashlib.sha256((folder / "risk.json").read_bytes()).hexdigest()
    manifest = {
        "project": project_id, "extract_id": "e0001",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"), "created_by": "test",
        "key_id": "fixture", "authorisation": {"period_from": "2024Q1", "period_to": "2025Q4"},
        "tables": {"thm_labour_market_panel": {
            "file": "thm_labour_market_panel.parquet", "rows": rows, "persons": rows,
            "sha256": digest.hexdigest(),
            "columns": ["person_id", "quarter", "age_band"]}},
        "risk_report": {"file": "risk.json", "sha256": risk, "summary": {}},
    }
    (folder / "extract.json").write_text(json.dumps(manifest))
    for path in folder.iterdir():
        path.chmod(0o444)
    folder.chmod(0o555)
    (root / "current").symlink_to("e0001")
    return folder


@dataclass
class OsAccounts:
    """System accounts made for a test run; ``remove`` deletes them with their homes."""

    names: list[str] = field(default_factory=list)

    def add(self, name: str) -> None:
        subprocess.run(["userdel", "--remove", name], capture_output=True)
        subprocess.run(["useradd", "--create-home", "--shell", "/usr/sbin/nologin",
                        "--user-group", name], check=True, capture_output=True)
        home = Path(f"/home/{name}")
        home.chmod(0o700)
        self.names.append(name)

    def remove(self) -> None:
        for name in self.names:
            subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True)
            subprocess.run(["userdel", "--remove", name], capture_output=True)
        self.names.clear()


def enrol(settings, username: str, role: str = "researcher") -> str:
    """An enrolled hub account with PASSWORD; returns its TOTP secret."""
    from sdwh.enclave.hub import config, totp
    from sdwh.enclave.hub.accounts import AccountStore, Role

    secret = totp.new_secret()
    AccountStore(config.accounts_path(settings)).add_enrolled(username, Role(role), PASSWORD,
                                                              secret)
    return secret


def fresh_code(secret: str, used: dict[str, int]) -> str:
    """A TOTP code whose time step was not used before for ``secret`` (the hub refuses
    replays); takes the next step's code, which the hub accepts, or waits for a new step."""
    from sdwh.enclave.hub import totp

    while True:
        step = int(time.time() // 30)
        for candidate in (step, step + 1):
            if candidate > used.get(secret, -1):
                used[secret] = candidate
                return totp.code_at(secret, candidate * 30)
        time.sleep(30 - time.time() % 30 + 0.2)


# ---------------------------------------------------------------------- the hub process
@dataclass
class Hub:
    process: subprocess.Popen
    url: str
    log: Path
    started_in: float

    def stop(self) -> None:
        """Stop the hub and its servers; its log is kept beside the other runs' logs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(40)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        with contextlib.suppress(OSError):
            shutil.copy(self.log, Path(tempfile.gettempdir()) / "sdwh-e2e-last-hub.log")


def start_hub(home: Path, extra_env: dict[str, str] | None = None, timeout: float = 120) -> Hub:
    """Run ``jupyterhub -f jupyterhub_config.py`` as ``sdwh serve hub`` does; wait until up."""
    port = free_port()
    env = {**os.environ, "SDWH_HOME": str(home), "SDWH_HUB_PORT": str(port),
           "PYTHONPATH": str(REPO), **(extra_env or {})}
    state = home / "hub"
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    log = state / "jupyterhub.log"
    started = time.monotonic()
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(REPO / "jupyterhub_config.py")],
            env=env, cwd=state, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    hub = Hub(process, url, log, 0.0)
    import urllib.request

    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"hub exited {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url + "/hub/api/", timeout=2)
            hub.started_in = time.monotonic() - started
            return hub
        except OSError:
            time.sleep(0.2)
    hub.stop()
    raise RuntimeError(f"hub did not come up:\n{log.read_text()[-3000:]}")


# ---------------------------------------------------------------------- a researcher's client
class Client:
    """One logged-in person: hub cookies, proxy cookie and an API token."""

    def __init__(self, hub_url: str, username: str) -> None:
        self.hub_url = hub_url
        self.username = username
        self.token: str | None = None
        self.loop = asyncio.new_event_loop()
        self.session = self.call(self._session())

    @staticmethod
    async def _session() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    def call(self, coro):
        """Run a coroutine of this client on its own event loop (sync tests use this)."""
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.call(self.session.close())
        self.loop.close()

    async def login(self, password: str, code: str) -> int:
        async with self.session.get(f"{self.hub_url}/hub/login") as r:
            page = await r.text()
        found = re.search(r'name="_xsrf" value="([^"]+)"', page)
        assert found, f"no login form ({r.status}): {page[:2000]}"
        xsrf = found.group(1)
        async with self.session.post(
                f"{self.hub_url}/hub/login",
                data={"username": self.username, "password": password, "otp": code,
                      "_xsrf": xsrf}, allow_redirects=False) as r:
            return r.status

    def _xsrf_header(self) -> dict[str, str]:
        for cookie in self.session.cookie_jar:
            if cookie.key == "_xsrf":
                return {"X-XSRFToken": cookie.value}
        return {}

    async def make_token(self) -> str:
        async with self.session.post(
                f"{self.hub_url}/hub/api/users/{self.username}/tokens",
                json={"note": "e2e", "expires_in": 3600}, headers=self._xsrf_header()) as r:
            assert r.status in (200, 201), await r.text()
            self.token = (await r.json())["token"]
        return self.token

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    async def spawn(self, project: str, timeout: float = 120) -> tuple[int, str]:
        """Start the project's server; (status of the request, final state or error)."""
        base = f"{self.hub_url}/hub/api/users/{self.username}/servers/{project}"
        async with self.session.post(base, json={}, headers=self.auth()) as r:
            status, text = r.status, await r.text()
        if status == 400 and "already running" in text:
            status = 200
        elif status not in (201, 202):
            return status, text
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            async with self.session.get(f"{self.hub_url}/hub/api/users/{self.username}",
                                        headers=self.auth()) as r:
                server = (await r.json())["servers"].get(project)
            if server and server.get("ready"):
                return status, "ready"
            if server is None or (not server.get("pending") and not server.get("ready")):
                return status, "failed"
            await asyncio.sleep(0.3)
        return status, "timeout"

    async def stop_server(self, project: str) -> int:
        async with self.session.delete(
                f"{self.hub_url}/hub/api/users/{self.username}/servers/{project}",
                headers=self.auth()) as r:
            return r.status

    def server_url(self, project: str, path: str = "") -> str:
        return f"{self.hub_url}/user/{self.username}/{project}/{path.lstrip('/')}"

    async def get(self, url: str, auth: bool = True, **kwargs) -> tuple[int, bytes, dict]:
        headers = self.auth() if auth else {}
        async with self.session.get(url, headers=headers, allow_redirects=False, **kwargs) as r:
            return r.status, await r.read(), dict(r.headers)

    async def execute(self, project: str, code: str, timeout: float = 60,
                      keep_kernel: bool = False) -> dict:
        """Run ``code`` in a new kernel of the project's server; stdout, error, seconds.
        With ``keep_kernel`` the kernel stays (its id in ``kernel``) until ``shutdown``."""
        started = time.monotonic()
        async with self.session.post(self.server_url(project, "api/kernels"), json={},
                                     headers=self.auth()) as r:
            assert r.status == 201, (r.status, await r.text())
            kernel = (await r.json())["id"]
        done = False
        try:
            result = await self._run(project, kernel, code, timeout, started)
            done = True
            return result | {"kernel": kernel}
        finally:
            if not (keep_kernel and done):
                await self.shutdown(project, kernel)

    async def shutdown(self, project: str, kernel: str) -> None:
        async with self.session.delete(self.server_url(project, f"api/kernels/{kernel}"),
                                       headers=self.auth()):
            pass

    async def _run(self, project: str, kernel: str, code: str, timeout: float,
                   started: float) -> dict:
        url = self.server_url(project, f"api/kernels/{kernel}/channels").replace("http", "ws", 1)
        msg_id = uuid.uuid4().hex
        out: list[str] = []
        error = None
        async with self.session.ws_connect(url, headers=self.auth(), max_msg_size=0) as ws:
            await ws.send_json({
                "header": {"msg_id": msg_id, "username": self.username, "session": msg_id,
                           "msg_type": "execute_request", "version": "5.3"},
                "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                "content": {"code": code, "silent": False, "store_history": False,
                            "user_expressions": {}, "allow_stdin": False}})
            first_output = None
            while True:
                msg = await asyncio.wait_for(ws.receive(), timeout)
                if msg.type != aiohttp.WSMsgType.TEXT:
                    error = error or f"websocket closed ({msg.type.name}, {ws.close_code})"
                    break
                data = json.loads(msg.data)
                if data.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = data["msg_type"]
                if kind == "stream":
                    out.append(data["content"]["text"])
                    first_output = first_output or time.monotonic()
                elif kind == "error":
                    error = f"{data['content']['ename']}: {data['content']['evalue']}"
                elif kind == "status" and data["content"]["execution_state"] == "idle":
                    break
        return {"stdout": "".join(out), "error": error,
                "seconds": time.monotonic() - started,
                "first_output": (first_output - started) if first_output else None}


def run_notebook_cell(page, code: str, expect: str, typed: str, screenshot: str) -> str:
    """Open a new notebook, type ``code`` into its first cell, run it and return the output
    holding ``expect``; ``typed`` is text of ``code`` to see in the editor before running.

    JupyterLab may swap a new notebook's first kernel for a second one while it starts (seen
    under load); an execute sent then is dropped, so the cell is run once more, as a person
    would. A screenshot lands in the temp dir either way.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.locator('.jp-LauncherCard[data-category="Notebook"]').first.click()
    editor = page.locator(".jp-Notebook .jp-Cell .cm-content").first
    editor.wait_for()
    page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]',
                           timeout=120_000)  # the kernel is up
    editor.click()
    page.keyboard.insert_text(code)
    page.wait_for_function("t => document.querySelector('.jp-Notebook .cm-content')"
                           ".innerText.includes(t)", arg=typed)
    page.keyboard.press("Shift+Enter")
    output = page.locator(".jp-OutputArea-output", has_text=expect)
    try:
        try:
            output.wait_for(timeout=45_000)
        except PlaywrightTimeout:
            page.locator(".jp-Notebook .jp-Cell").first.click()
            page.keyboard.press("Control+Enter")
            output.wait_for(timeout=120_000)
    finally:
        page.screenshot(path=str(Path(tempfile.gettempdir()) / screenshot))
    return output.inner_text()


def cleanup_home(home: Path) -> None:
    """Remove a test data root and the hub's runtime folder for it."""
    from sdwh.config import Settings
    from sdwh.enclave.hub.config import runtime_dir

    shutil.rmtree(runtime_dir(Settings(home=home)), ignore_errors=True)
    for path in home.rglob("*"):
        try:
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        except OSError:
            pass
    shutil.rmtree(home, ignore_errors=True)
