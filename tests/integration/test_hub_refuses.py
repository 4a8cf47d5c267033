"""Fail-closed: the enclave hub and its servers refuse to run without their enforcement."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sdwh.enclave.hub import isolation
from sdwh.enclave.hub.spawner import ENFORCEMENT_ARGS

REPO = Path(__file__).resolve().parents[2]
ENCLAVE_ENV = REPO / ".venv-enclave"


def hub_env(home: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "SDWH_HOME": str(home), "PYTHONPATH": str(REPO), **extra}


def test_serve_hub_refuses_secure_mode_without_the_enclave_environment(tmp_path):
    done = subprocess.run([sys.executable, "-m", "sdwh", "serve", "hub"], capture_output=True,
                          text=True, timeout=120, env=hub_env(
                              tmp_path, SDWH_HUB_ENCLAVE_ENV=str(tmp_path / "missing")))
    assert done.returncode == 1
    assert "refuses to start in secure mode" in done.stderr
    assert "enclave environment" in done.stderr
    assert "Traceback" not in done.stderr


def test_jupyterhub_with_the_config_file_does_not_start_either(tmp_path):
    done = subprocess.run([sys.executable, "-m", "jupyterhub", "-f",
                           str(REPO / "jupyterhub_config.py")], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, env=hub_env(
                              tmp_path, SDWH_HUB_ENCLAVE_ENV=str(tmp_path / "missing"),
                              SDWH_HUB_PORT="1"))
    assert done.returncode != 0
    assert "refuses to start in secure mode" in done.stdout + done.stderr


def test_probe_names_missing_root(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "not running as root" in isolation.probe()


@pytest.mark.skipif(os.geteuid() != 0, reason="namespaces need root")
def test_probe_succeeds_where_namespaces_work(tmp_path):
    assert isolation.probe(hidden=tmp_path) is None


@pytest.mark.skipif(not (ENCLAVE_ENV / "bin" / "jupyter-server").exists(),
                    reason="enclave environment missing (make hub-env)")
def test_a_server_whose_enforcement_cannot_load_exits_instead_of_starting(tmp_path):
    """The in-server layer comes on the command line: unimportable means exit, not fail-open."""
    sock = tmp_path / "s.sock"
    cmd = [str(ENCLAVE_ENV / "bin" / "jupyter-server"), "--sock", str(sock), "--no-browser",
           *(["--allow-root"] if os.geteuid() == 0 else []), *ENFORCEMENT_ARGS]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "JUPYTER_PLATFORM_DIRS": "1"}
    broken = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120,
                            cwd=tmp_path)  # no PYTHONPATH: sdwh.enclave.hub is not importable
    assert broken.returncode != 0
    assert "EnclaveContentsManager" in broken.stderr or "sdwh" in broken.stderr
    assert not sock.exists()
    working = subprocess.Popen(cmd, env={**env, "PYTHONPATH": str(REPO)}, cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while not sock.exists() and working.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sock.exists(), "the server with its enforcement should start"
    finally:
        working.terminate()
        working.wait(30)
