"""The enclave's only public entry point: a reverse proxy inside the (root) hub process.

It replaces configurable-http-proxy. JupyterHub tells it the routes (hub, services, one per
running server); for a researcher's server it first checks, outside the researcher's reach:

1. **who is asking** — the proxy's signed login cookie or a hub API token of the server's
   owner (:mod:`.sessions`); anyone else gets 403 before the server sees the request;
2. **what is asked** — file, download, export and terminal routes, and contents-API reads of
   data files, are refused (:mod:`.filtering`), whatever the server behind would answer;
3. **how much leaves** — every byte sent to the browser (HTTP and websocket) is counted
   against the session's budget; past it requests get 429 and websockets are closed;

and it writes refusals and each session's volumes to the audit log.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlparse

import aiohttp
from aiohttp import web
from jupyterhub import orm
from jupyterhub.proxy import Proxy
from traitlets import Any as AnyTrait
from traitlets import Integer

from sdwh.enclave.hub import filtering
from sdwh.enclave.hub.sessions import COOKIE_NAME, SIGNER

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailer", "trailers", "transfer-encoding", "upgrade", "content-length"}
WS_HEADERS = {"sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions",
              "sec-websocket-protocol", "sec-websocket-accept"}
CONTENTS_LIMIT = 32 * 1024 * 1024


class EnclaveProxy(Proxy):
    """JupyterHub proxy with the enclave's access, download and volume rules built in."""

    session_bytes = Integer(
        64 * 1024 * 1024, config=True,
        help="Bytes a server session may send to the browser (JupyterLab's assets excluded).")
    audit = AnyTrait(None, allow_none=True, config=True,
                     help="Callable(event, actor, **details) that writes the audit log.")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.routes: dict[str, dict[str, Any]] = {}
        self.budgets: dict[str, filtering.SessionBudget] = {}
        self.activity: dict[str, str] = {}
        self._clients: dict[str, aiohttp.ClientSession] = {}
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ Proxy API
    async def start(self) -> None:
        url = urlparse(self.public_url)
        app = web.Application(client_max_size=filtering.MAX_REQUEST_BYTES)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, url.hostname or "127.0.0.1", url.port or 8000).start()
        self.log.info("Enclave proxy listening on %s", self.public_url)

    async def stop(self) -> None:
        for routespec in list(self.budgets):
            self._close_session(routespec)
        for client in self._clients.values():
            await client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def add_route(self, routespec: str, target: str, data: dict) -> None:
        routespec = self.validate_routespec(routespec)
        self.routes[routespec] = {"routespec": routespec, "target": target, "data": dict(data)}
        if "user" in data and routespec not in self.budgets:
            self.budgets[routespec] = filtering.SessionBudget(limit=self.session_bytes)

    async def delete_route(self, routespec: str) -> None:
        routespec = self.validate_routespec(routespec)
        route = self.routes.pop(routespec, None)
        self.activity.pop(routespec, None)
        self._close_session(routespec, route)
        if route:
            client = self._clients.pop(route["target"], None)
            if client is not None:
                await client.close()

    async def get_all_routes(self) -> dict[str, dict[str, Any]]:
        routes = {}
        for spec, route in self.routes.items():
            data = dict(route["data"])
            if spec in self.activity:
                data["last_activity"] = self.activity[spec]
            routes[spec] = {**route, "data": data}
        return routes

    # ------------------------------------------------------------------ request handling
    def _match(self, path: str) -> dict[str, Any] | None:
        probe = path if path.endswith("/") else path + "/"
        best = None
        for spec, route in self.routes.items():
            if probe.startswith(spec) and (best is None or len(spec) > len(best["routespec"])):
                best = route
        return best

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        route = self._match(request.path)
        if route is None:
            return web.Response(status=404, text="No such route.\n")
        data = route["data"]
        if "user" not in data:
            return await self._forward(request, route, None, check_contents=False)
        owner, server = data["user"], data.get("server_name", "")
        spec = route["routespec"]
        who = self._requester(request)
        if who != owner:
            return self._refuse(request, 403, owner, server, "not the owner's session",
                                audit=who is not None, actor=who or "anonymous")
        parts = filtering.split_server_path(request.path)
        subpath = parts[2] if parts else "/"
        decision = filtering.check_request(request.method, subpath, request.query_string)
        budget = self.budgets.setdefault(spec, filtering.SessionBudget(limit=self.session_bytes))
        if not decision.allowed:
            budget.refused += 1
            return self._refuse(request, 403, owner, server, decision.rule)
        if budget.exceeded and not filtering.is_static(subpath):
            return self._refuse(request, 429, owner, server, "session byte budget spent")
        self.activity[spec] = datetime.now(UTC).isoformat()
        if request.method in ("PUT", "POST", "PATCH") and subpath.startswith("/api/contents"):
            body = await request.read()
            budget.upload(len(body))
            try:
                upload = filtering.check_upload(json.loads(body) if body else None)
            except (json.JSONDecodeError, UnicodeDecodeError):
                upload = filtering.Decision.allow()
            if not upload.allowed:
                budget.refused += 1
                return self._refuse(request, 403, owner, server, upload.rule)
        check = (request.method == "GET" and subpath.startswith("/api/contents/")
                 and "/checkpoints" not in subpath)
        return await self._forward(request, route, (budget, filtering.is_static(subpath),
                                                    owner, server), check_contents=check)

    def _requester(self, request: web.Request) -> str | None:
        """The logged-in user behind a request: proxy cookie first, else a hub API token."""
        name = SIGNER.username(request.cookies.get(COOKIE_NAME))
        if name:
            return name
        token = None
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith(("token ", "bearer ")):
            token = auth.split(None, 1)[1].strip()
        token = token or request.query.get("token")
        if not token:
            return None
        found = orm.APIToken.find(self.db, token)
        if found is None or found.user is None:
            return None
        if found.expires_at is not None and found.expires_at < datetime.now(UTC).replace(
                tzinfo=None):
            return None
        return found.user.name

    def _refuse(self, request: web.Request, status: int, owner: str, server: str, rule: str,
                audit: bool = True, actor: str | None = None) -> web.Response:
        self.log.warning("Enclave proxy refused %s %s: %s", request.method, request.path, rule)
        if audit:
            self._audit("enclave.download_refused" if status == 403 else "enclave.budget_refused",
                        actor or owner, owner=owner, project=server, method=request.method,
                        path=request.path, rule=rule, status=status)
        return web.Response(status=status, text=f"Refused by the enclave: {rule}.\n",
                            headers={"X-Sdwh-Refused": rule})

    def _audit(self, event: str, actor: str, **details: Any) -> None:
        if self.audit is None:
            return
        try:
            self.audit(event, actor, **details)
        except Exception:  # the refusal itself must still happen
            self.log.exception("Could not write audit event %s", event)

    def _close_session(self, routespec: str, route: dict | None = None) -> None:
        budget = self.budgets.pop(routespec, None)
        if budget is None:
            return
        data = (route or self.routes.get(routespec) or {}).get("data", {})
        owner = data.get("user", routespec.split("/")[2] if routespec.count("/") > 2 else "?")
        self.log.info("Session %s volumes: %s", routespec, budget.as_dict())
        self._audit("enclave.session_bytes", owner, project=data.get("server_name", ""),
                    route=routespec, **budget.as_dict())

    # ------------------------------------------------------------------ forwarding
    def _client(self, target: str) -> tuple[aiohttp.ClientSession, str]:
        parsed = urlparse(target)
        if parsed.scheme == "http+unix":
            base = "http://localhost"
        else:
            base = f"{parsed.scheme}://{parsed.netloc}"
        client = self._clients.get(target)
        if client is None or client.closed:
            if parsed.scheme == "http+unix":
                connector = aiohttp.UnixConnector(path=unquote(parsed.netloc))
            else:
                connector = aiohttp.TCPConnector()
            # DummyCookieJar: a proxy must never keep one person's cookies for the next.
            client = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
            self._clients[target] = client
        return client, base

    def _upstream_headers(self, request: web.Request) -> dict[str, str]:
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in HOP_BY_HOP and k.lower() not in WS_HEADERS}
        headers["X-Forwarded-For"] = request.remote or ""
        headers["X-Forwarded-Proto"] = request.scheme
        headers["X-Forwarded-Host"] = request.host
        return headers

    async def _forward(self, request: web.Request, route: dict[str, Any],
                       accounting: tuple[filtering.SessionBudget, bool, str, str] | None,
                       check_contents: bool) -> web.StreamResponse:
        client, base = self._client(route["target"])
        url = base + request.raw_path
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._forward_websocket(request, client, url, accounting)
        body = await request.read() if request.body_exists else None
        try:
            upstream = await client.request(request.method, url,
                                            headers=self._upstream_headers(request), data=body,
                                            allow_redirects=False)
        except aiohttp.ClientError as err:
            self.log.warning("Upstream %s unreachable: %s", route["target"], err)
            return web.Response(status=503, text="The server is not reachable.\n")
        async with upstream:
            headers = [(k, v) for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP]
            if check_contents and upstream.status == 200 and accounting is not None:
                raw = await upstream.content.read(CONTENTS_LIMIT + 1)
                decision = _contents_decision(raw, upstream.headers.get("Content-Encoding"))
                if not decision.allowed:
                    budget, _, owner, server = accounting
                    budget.refused += 1
                    return self._refuse(request, 403, owner, server, decision.rule)
                if accounting[0].charge(len(raw)) is False:
                    return self._refuse(request, 429, accounting[2], accounting[3],
                                        "session byte budget spent")
                response = web.Response(status=upstream.status, body=raw)
                for k, v in headers:
                    response.headers.add(k, v)
                return response
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for k, v in headers:
                response.headers.add(k, v)
            if upstream.headers.get("Content-Length") is not None:
                response.content_length = int(upstream.headers["Content-Length"])
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                if accounting is not None:
                    budget, static, owner, server = accounting
                    if not budget.charge(len(chunk), static=static):
                        self._audit("enclave.budget_exceeded", owner, project=server,
                                    path=request.path, **budget.as_dict())
                        break  # cut the response off: the budget is a hard limit
                await response.write(chunk)
            await response.write_eof()
            return response

    async def _forward_websocket(self, request: web.Request, client: aiohttp.ClientSession,
                                 url: str, accounting: tuple | None) -> web.StreamResponse:
        protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "")
                     .split(",") if p.strip()]
        try:
            upstream = await client.ws_connect(url.replace("http", "ws", 1),
                                               headers=self._upstream_headers(request),
                                               protocols=protocols, max_msg_size=0,
                                               autoping=True, compress=0)
        except (aiohttp.ClientError, aiohttp.WSServerHandshakeError) as err:
            self.log.warning("Upstream websocket %s failed: %s", url, err)
            return web.Response(status=503, text="The server is not reachable.\n")
        chosen = [upstream.protocol] if upstream.protocol else []
        downstream = web.WebSocketResponse(protocols=chosen, max_msg_size=0, autoping=True)
        try:
            await downstream.prepare(request)
        except ConnectionResetError:  # the browser left while the server was slow to accept
            await upstream.close()
            return downstream

        async def to_server() -> None:
            async for msg in downstream:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    if accounting:
                        accounting[0].upload(len(msg.data))
                    await upstream.send_str(msg.data)
                elif msg.type == aiohttp.WSMsgType.BINARY:
                    if accounting:
                        accounting[0].upload(len(msg.data))
                    await upstream.send_bytes(msg.data)
                else:
                    break
            await upstream.close()

        async def to_browser() -> None:
            async for msg in upstream:
                if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    break
                size = len(msg.data)
                if accounting is not None:
                    budget, _, owner, server = accounting
                    if not budget.charge(size):
                        self._audit("enclave.budget_exceeded", owner, project=server,
                                    path=request.path, **budget.as_dict())
                        break
                if msg.type == aiohttp.WSMsgType.TEXT:
                    await downstream.send_str(msg.data)
                else:
                    await downstream.send_bytes(msg.data)
            await downstream.close(code=1008 if accounting and accounting[0].exceeded else 1000)

        tasks = [asyncio.ensure_future(to_server()), asyncio.ensure_future(to_browser())]
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await upstream.close()
        await downstream.close()
        return downstream


def _contents_decision(raw: bytes, encoding: str | None) -> filtering.Decision:
    if len(raw) > CONTENTS_LIMIT:
        return filtering.Decision.deny("contents answer too large")
    try:
        if encoding == "gzip":
            import gzip

            raw = gzip.decompress(raw)
        model = json.loads(raw)
    except (ValueError, OSError):
        return filtering.Decision.deny("contents answer not understood")
    return filtering.check_contents_model(model)


def audit_to_log(make_log: Callable[[], Any]) -> Callable[..., None]:
    """An ``audit`` callable that appends to the sdwh audit log (created lazily)."""
    state: dict[str, Any] = {}

    def audit(event: str, actor: str, **details: Any) -> None:
        if "log" not in state:
            state["log"] = make_log()
        state["log"].append(event, actor, **details)

    return audit
