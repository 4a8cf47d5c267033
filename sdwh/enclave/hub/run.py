"""Starting the hub (``sdwh serve hub``) and managing its accounts (``sdwh serve account``)."""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sdwh.config import PROJECT_DIR, Settings
from sdwh.enclave.hub import config, passwords, totp
from sdwh.enclave.hub.accounts import AccountStore, Role
from sdwh.errors import SdwhError


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: Role
    password: str
    secret: str
    projects: list[str]


def store(settings: Settings) -> AccountStore:
    return AccountStore(config.accounts_path(settings))


def ensure_os_account(username: str) -> bool:
    """Create a researcher's system account (home 0700) unless it exists; True if created."""
    try:
        pwd.getpwnam(username)
        return False
    except KeyError:
        pass
    done = subprocess.run(["useradd", "--create-home", "--shell", "/usr/sbin/nologin",
                           "--user-group", username], capture_output=True, text=True)
    if done.returncode != 0:
        raise SdwhError(f"Could not create the system account {username}: "
                        f"{done.stderr.strip()}.", "Run as root, or create it yourself.")
    os.chmod(pwd.getpwnam(username).pw_dir, 0o700)
    return True


def remove_os_account(username: str) -> None:
    subprocess.run(["userdel", "--remove", username], capture_output=True)


def demo_accounts(settings: Settings, researchers: list[str], staff: list[str]
                  ) -> list[DemoAccount]:
    """Enrolled accounts with fresh passwords and TOTP secrets (shown once, demo only)."""
    from sdwh.projects.registry import Registry

    registry = Registry(settings)
    made = []
    for username, role in [*((r, Role.RESEARCHER) for r in researchers),
                           *((s, Role.STAFF) for s in staff)]:
        password, secret = passwords.new_code(16), totp.new_secret()
        store(settings).add_enrolled(username, role, password, secret)
        projects = [p.id for p in registry.active_projects_for(username, date.today())]
        made.append(DemoAccount(username, role, password, secret, projects))
    return made


def hub_command(settings: Settings) -> list[str]:
    return [sys.executable, "-m", "jupyterhub", "-f", str(PROJECT_DIR / "jupyterhub_config.py")]


def hub_environment(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env["SDWH_HOME"] = str(settings.root)
    env["PYTHONPATH"] = str(PROJECT_DIR)
    return env


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 120) -> float:
    """Seconds until ``url`` answers; SdwhError if the hub exits first or never answers."""
    import urllib.error
    import urllib.request

    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if process.poll() is not None:
            raise SdwhError(f"The hub exited while starting (code {process.returncode}).",
                            "See the hub log (jupyterhub.log in the hub folder) for the cause.")
        try:
            urllib.request.urlopen(url, timeout=2)
            return time.monotonic() - start
        except urllib.error.HTTPError:
            return time.monotonic() - start
        except OSError:
            time.sleep(0.2)
    raise SdwhError("The hub did not answer in time.", "See its log for the cause.")


def stop(process: subprocess.Popen) -> None:
    """Stop the hub (it stops its servers and the culler), then its whole process group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def hub_log(settings: Settings) -> Path:
    return config.hub_dir(settings) / "jupyterhub.log"
