"""JupyterHub login for researchers and VSA staff: password plus TOTP code, and enrolment.

The login form gets JupyterHub's own one-time-code field (``request_otp``); the account store
(:mod:`.accounts`) checks both factors. ``/hub/enrol`` lets a new account holder exchange the
enrolment code VSA gave them for a password and a TOTP secret (QR code), confirmed by a first
code. Every login, refusal and enrolment is an audit event. For production single sign-on with
MFA at the identity provider see :func:`oidc_authenticator_config` and docs/operations.md.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import segno
from jupyterhub.auth import Authenticator
from jupyterhub.handlers import BaseHandler
from tornado import web
from traitlets import Any as AnyTrait
from traitlets import Unicode, default

from sdwh.enclave.hub import totp
from sdwh.enclave.hub.accounts import AccountStore, LoginRefused
from sdwh.enclave.hub.sessions import COOKIE_NAME, SIGNER


class EnclaveAuthenticator(Authenticator):
    """Password + TOTP against the hub's account store."""

    accounts_path = Unicode(config=True, help="The account store (JSON, mode 0600).")
    audit = AnyTrait(None, allow_none=True, config=True,
                     help="Callable(event, actor, **details) that writes the audit log.")

    @default("request_otp")
    def _request_otp(self) -> bool:
        return True

    @default("otp_prompt")
    def _otp_prompt(self) -> str:
        return "One-time code (authenticator app):"

    @default("allow_all")
    def _allow_all(self) -> bool:
        return True  # the account store is the allow list: unknown names never authenticate

    @property
    def store(self) -> AccountStore:
        return AccountStore(Path(self.accounts_path))

    async def authenticate(self, handler: web.RequestHandler, data: dict) -> dict | None:
        username = self.normalize_username(str(data.get("username", "")))
        try:
            account = await asyncio.to_thread(self.store.check_login, username,
                                              str(data.get("password", "")),
                                              str(data.get("otp", "")))
        except LoginRefused as refused:
            self._audit("hub.login_refused", username or "anonymous", reason=refused.reason,
                        remote=handler.request.remote_ip)
            return None
        self._audit("hub.login", username, role=account.role.value, factors="password+totp",
                    remote=handler.request.remote_ip)
        return {"name": username, "groups": [account.role.value]}

    def get_handlers(self, app: Any) -> list:
        return [*super().get_handlers(app), ("/enrol", EnrolHandler)]

    def _audit(self, event: str, actor: str, **details: Any) -> None:
        if self.audit is not None:
            self.audit(event, actor, **details)


def set_proxy_cookie(lifetime: int):
    """A ``post_auth_hook`` that gives the browser the enclave proxy's session cookie."""

    def hook(authenticator: Authenticator, handler: web.RequestHandler,
             authentication: dict | None) -> dict | None:
        if authentication:
            handler.set_cookie(COOKIE_NAME, SIGNER.sign(authentication["name"], lifetime),
                               path="/user/", httponly=True, samesite="Lax",
                               secure=handler.request.protocol == "https")
        return authentication

    return hook


class EnrolHandler(BaseHandler):
    """Two steps: enrolment code → QR code; then password + first code → enrolled."""

    def _render(self, **ns: Any) -> str:
        return self.render_template("enrol.html", xsrf=self.xsrf_token.decode("ascii"), **ns)

    async def get(self) -> None:
        self.finish(await self._render(step="code", username="", error=None))

    async def post(self) -> None:
        authenticator = self.authenticator
        store = authenticator.store
        username = authenticator.normalize_username(self.get_body_argument("username", ""))
        code = self.get_body_argument("code", "")
        step = self.get_body_argument("step", "code")
        try:
            if step == "code":
                secret = await asyncio.to_thread(store.begin_enrolment, username, code)
                uri = totp.provisioning_uri(secret, username)
                self.finish(await self._render(
                    step="confirm", username=username, code=code, secret=secret, uri=uri,
                    qr_svg=segno.make(uri).svg_inline(scale=5), error=None))
                return
            password = self.get_body_argument("password", "")
            if password != self.get_body_argument("password2", ""):
                raise LoginRefused("the two passwords differ")
            await asyncio.to_thread(store.finish_enrolment, username, code, password,
                                    self.get_body_argument("otp", ""))
        except LoginRefused as refused:
            authenticator._audit("hub.enrol_refused", username or "anonymous",
                                 reason=refused.reason, step=step)
            self.set_status(403)
            self.finish(await self._render(step="code", username=username,
                                           error=f"Enrolment refused: {refused.reason}."))
            return
        authenticator._audit("hub.enrolled", username, factors="password+totp")
        self.finish(await self._render(step="done", username=username, error=None))


def oidc_authenticator_config(c: Any, settings: Any) -> None:
    """Production login: OpenID Connect, MFA enforced at the identity provider."""
    c.JupyterHub.authenticator_class = "oauthenticator.generic.GenericOAuthenticator"
    c.GenericOAuthenticator.client_id = settings.hub_oidc_client_id
    c.GenericOAuthenticator.client_secret = (settings.hub_oidc_client_secret.get_secret_value()
                                             if settings.hub_oidc_client_secret else "")
    c.GenericOAuthenticator.authorize_url = settings.hub_oidc_authorize_url
    c.GenericOAuthenticator.token_url = settings.hub_oidc_token_url
    c.GenericOAuthenticator.userdata_url = settings.hub_oidc_userdata_url
    c.GenericOAuthenticator.oauth_callback_url = settings.hub_oidc_callback_url
    c.GenericOAuthenticator.scope = ["openid", "profile", "email", "groups"]
    c.GenericOAuthenticator.username_claim = "preferred_username"
    c.GenericOAuthenticator.enable_pkce = True
    c.GenericOAuthenticator.manage_groups = True
    c.GenericOAuthenticator.auth_state_groups_key = "oauth_user.groups"
    c.GenericOAuthenticator.allowed_groups = {"researchers", "staff"}
