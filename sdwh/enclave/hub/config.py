"""The enclave's JupyterHub configuration, applied by ``jupyterhub_config.py``.

Secure mode (the default) checks before anything starts that the isolation this file relies
on can run here — root, network and mount namespaces, the enclave's Python environment with the
in-server layer — and refuses to start otherwise. Development mode (``SDWH_HUB_MODE=
development``) is for laptops without root: servers run as the hub's user with no namespace,
and `sdwh serve hub` says so loudly. Production (Kubernetes) is described in ``infra/``.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sdwh.config import PROJECT_DIR, Settings, get_settings
from sdwh.enclave.hub import isolation
from sdwh.errors import SdwhError

TEMPLATES = Path(__file__).parent / "templates"


def hub_dir(settings: Settings) -> Path:
    """Hub state: database, cookie secret, accounts (mode 0700)."""
    return settings.root / "hub"


def runtime_dir(settings: Settings) -> Path:
    """Sockets and spools, outside the data root (which sandboxes cannot see)."""
    key = hashlib.sha256(str(settings.root).encode()).hexdigest()[:12]
    return Path(settings.hub_runtime_dir) / key


def enclave_env(settings: Settings) -> Path:
    return Path(settings.hub_enclave_env or PROJECT_DIR / ".venv-enclave")


def accounts_path(settings: Settings) -> Path:
    return hub_dir(settings) / "accounts.json"


def preflight(settings: Settings) -> list[str]:
    """Why secure mode cannot run here (empty when it can)."""
    problems = []
    env = enclave_env(settings)
    singleuser = env / "bin" / "jupyterhub-singleuser"
    if not singleuser.exists():
        problems.append(f"the enclave environment {env} is missing (run `make hub-env`)")
    else:
        check = subprocess.run(
            [str(env / "bin" / "python"), "-c", "import sdwh.enclave.hub.inserver"],
            env={"PYTHONPATH": str(PROJECT_DIR)}, capture_output=True, text=True)
        if check.returncode != 0:
            problems.append("the in-server enforcement layer cannot be imported in the "
                            f"enclave environment ({check.stderr.strip().splitlines()[-1:]})")
    why = isolation.probe(hidden=settings.root)
    if why:
        problems.append(why)
    return problems


def audit_callable(settings: Settings):
    from sdwh.audit.log import audit_log
    from sdwh.enclave.hub.proxy import audit_to_log

    return audit_to_log(lambda: audit_log(settings))


def configure(c: Any, settings: Settings | None = None) -> None:
    """Fill the traitlets config ``c`` for the enclave hub."""
    settings = settings or get_settings()
    secure = settings.hub_mode == "secure"
    if secure:
        problems = preflight(settings)
        if problems:
            raise SdwhError("The enclave hub refuses to start in secure mode: "
                            + "; ".join(problems) + ".",
                            "Fix the cause, or run SDWH_HUB_MODE=development on a laptop "
                            "(no isolation; never with real data).")
    state = hub_dir(settings)
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    state.chmod(0o700)
    run = runtime_dir(settings)
    run.mkdir(parents=True, exist_ok=True, mode=0o711)
    run.chmod(0o711)
    audit = audit_callable(settings)
    public = f"http://{settings.hub_ip}:{settings.hub_port}"

    c.JupyterHub.bind_url = public + "/"
    c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(state / "cookie_secret")
    c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
    c.JupyterHub.cleanup_servers = True
    c.JupyterHub.template_paths = [str(TEMPLATES)]
    c.JupyterHub.template_vars = {"enclave_mode": settings.hub_mode}
    c.JupyterHub.cookie_max_age_days = settings.hub_max_age / 86400
    c.JupyterHub.hub_bind_url = "http+unix://" + quote(str(run / "hub.sock"), safe="")
    c.JupyterHub.hub_connect_url = c.JupyterHub.hub_bind_url
    c.JupyterHub.hub_socket_mode = 0o666  # servers in their namespaces reach the hub only so
    c.JupyterHub.proxy_class = "sdwh.enclave.hub.proxy.EnclaveProxy"
    c.EnclaveProxy.session_bytes = settings.hub_session_bytes
    c.EnclaveProxy.audit = audit
    c.JupyterHub.allow_named_servers = True
    c.JupyterHub.named_server_limit_per_user = 0
    c.JupyterHub.redirect_to_server = False
    c.JupyterHub.last_activity_interval = 60

    if settings.hub_auth == "oidc":
        from sdwh.enclave.hub.authenticator import oidc_authenticator_config

        oidc_authenticator_config(c, settings)
    else:
        c.JupyterHub.authenticator_class = "sdwh.enclave.hub.authenticator.EnclaveAuthenticator"
        c.EnclaveAuthenticator.accounts_path = str(accounts_path(settings))
        c.EnclaveAuthenticator.audit = audit
        c.Authenticator.manage_groups = True
    from sdwh.enclave.hub.authenticator import set_proxy_cookie

    c.Authenticator.post_auth_hook = set_proxy_cookie(settings.hub_max_age)

    env = enclave_env(settings)
    c.Spawner.cmd = [str(env / "bin" / "jupyterhub-singleuser")]
    c.Spawner.default_url = "/lab"
    c.Spawner.disable_user_config = True
    c.Spawner.start_timeout = 120
    c.Spawner.http_timeout = 60
    c.Spawner.poll_interval = 30
    c.Spawner.env_keep = ["LANG", "LC_ALL"]
    if secure:
        c.JupyterHub.spawner_class = "sdwh.enclave.hub.spawner.EnclaveSpawner"
        c.EnclaveSpawner.enclave_env = str(env)
        c.EnclaveSpawner.runtime_dir = str(run)
        c.EnclaveSpawner.settings = settings
        c.EnclaveSpawner.audit = audit
    else:
        c.JupyterHub.spawner_class = "sdwh.enclave.hub.devspawner.DevelopmentSpawner"
        c.DevelopmentSpawner.settings = settings
        c.DevelopmentSpawner.audit = audit
        c.DevelopmentSpawner.runtime_dir = str(run)

    culler = [sys.executable, "-m", "jupyterhub_idle_culler",
              f"--url={public}/hub/api", f"--timeout={settings.hub_idle_timeout}",
              f"--cull-every={settings.hub_cull_every}", f"--max-age={settings.hub_max_age}",
              "--remove-named-servers=true"]
    review = {  # the airlock's review web app for output checkers (issue 6)
        "name": "airlock", "url": f"http://127.0.0.1:{_free_port()}",
        "command": [sys.executable, "-m", "sdwh.enclave.hub.review"],
        "oauth_no_confirm": True,
        "environment": {**{k: v for k, v in os.environ.items() if k.startswith("SDWH_")},
                        "SDWH_HOME": str(settings.root), "PYTHONPATH": str(PROJECT_DIR)},
    }
    c.JupyterHub.services = [{"name": "idle-culler", "command": culler}, review]
    c.JupyterHub.load_roles = [
        {"name": "idle-culler", "services": ["idle-culler"],
         "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"]},
        {"name": "user", "scopes": ["self", "access:services!service=airlock"]},
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
