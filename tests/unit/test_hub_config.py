"""jupyterhub_config: what the enclave hub is configured with, and secure-mode refusal."""

from __future__ import annotations

import pytest
from traitlets.config import Config

from sdwh.config import Settings
from sdwh.enclave.hub import config
from sdwh.errors import SdwhError


def settings(tmp_path, **extra) -> Settings:
    return Settings(home=tmp_path / "home", hub_runtime_dir=tmp_path / "run", **extra)


def test_development_config_keeps_login_proxy_rules_and_culling(tmp_path):
    c = Config()
    config.configure(c, settings(tmp_path, hub_mode="development", hub_idle_timeout=900,
                                 hub_max_age=7200, hub_session_bytes=1000))
    assert c.JupyterHub.proxy_class.endswith("EnclaveProxy")
    assert c.EnclaveProxy.session_bytes == 1000
    assert c.JupyterHub.authenticator_class.endswith("EnclaveAuthenticator")
    assert c.JupyterHub.bind_url.startswith("http://127.0.0.1:")
    assert c.JupyterHub.hub_bind_url.startswith("http+unix://")
    assert c.JupyterHub.allow_named_servers is True
    assert c.JupyterHub.spawner_class.endswith("DevelopmentSpawner")
    culler = next(s for s in c.JupyterHub.services if s["name"] == "idle-culler")["command"]
    assert "--timeout=900" in culler and "--max-age=7200" in culler
    assert "--remove-named-servers=true" in culler
    assert any(s["name"] == "airlock" for s in c.JupyterHub.services)
    assert (tmp_path / "home" / "hub").stat().st_mode & 0o777 == 0o700


def test_secure_mode_refuses_without_the_enclave_environment(tmp_path):
    with pytest.raises(SdwhError, match="refuses to start in secure mode"):
        config.configure(Config(), settings(tmp_path, hub_enclave_env=tmp_path / "none"))


def test_oidc_mode_configures_generic_oauth_with_pkce(tmp_path):
    c = Config()
    config.configure(c, settings(
        tmp_path, hub_mode="development", hub_auth="oidc", hub_oidc_client_id="sdwh",
        hub_oidc_authorize_url="https://idp/auth", hub_oidc_token_url="https://idp/token",
        hub_oidc_userdata_url="https://idp/userinfo",
        hub_oidc_callback_url="https://enclave/hub/oauth_callback"))
    assert c.JupyterHub.authenticator_class == "oauthenticator.generic.GenericOAuthenticator"
    assert c.GenericOAuthenticator.enable_pkce is True
    assert c.GenericOAuthenticator.client_id == "sdwh"
