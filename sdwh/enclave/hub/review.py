"""The airlock's review web app: a JupyterHub service for VSA output checkers.

Runs as a hub-managed service at ``/services/airlock/`` (``python -m sdwh.enclave.hub.review``)
over the airlock's own API (:class:`sdwh.airlock.service.AirlockService`), which holds every
rule: only checkers see the queue and open files, never on their own requests, votes stay
blinded until both reviews are in, every view and decision is audited. Login is the hub's
(password + TOTP or OIDC); the service receives the user's name through hub OAuth.
"""

from __future__ import annotations

import json
import os
from html import escape
from typing import Any

from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from tornado import web
from tornado.ioloop import IOLoop

from sdwh.config import get_settings
from sdwh.errors import SdwhError

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>VSA airlock — {title}</title><style>
body{{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}
.fail{{color:#a00}}.pass{{color:#070}}.review{{color:#a60}}pre{{background:#f6f6f6;padding:.5em}}
</style></head><body><p><a href="{prefix}">Queue</a> ·
<a id="mine-link" href="{prefix}mine">My requests</a> · signed in as <b>{user}</b></p>
<h1>{title}</h1>{body}</body></html>"""


class ReviewHandler(HubOAuthenticated, web.RequestHandler):
    """Shared: the airlock service and the signed-in user."""

    @property
    def viewer(self) -> str:
        return self.current_user["name"]

    @property
    def airlock(self) -> Any:
        from sdwh.airlock.service import AirlockService

        return AirlockService(get_settings())

    def page(self, title: str, body: str, status: int = 200) -> None:
        self.set_status(status)
        self.finish(PAGE.format(title=escape(title), body=body, user=escape(self.viewer),
                                prefix=self.settings["prefix"]))

    def refused(self, err: SdwhError) -> None:
        self.page("Not allowed", f"<p id='refused'>{escape(err.message)}</p>"
                  f"<p>{escape(err.hint)}</p>", status=403)


class QueueHandler(ReviewHandler):
    @web.authenticated
    def get(self) -> None:
        try:
            rows = self.airlock.queue(self.viewer)
        except SdwhError as err:
            return self.refused(err)
        lines = "".join(
            f"<tr><td><a href='{self.settings['prefix']}requests/{escape(r['id'])}'>"
            f"{escape(r['id'])}</a></td><td>{escape(r['project'])}</td>"
            f"<td>{escape(r['author'])}</td><td>{escape(r['state'])}</td><td>{r['files']}</td>"
            f"<td class='{escape(str(r['automatic']))}'>{escape(str(r['automatic']))}</td>"
            f"<td>{r['waiting_hours']}</td><td>{escape(r['my_review'])}"
            f"{' (own request)' if r['own_request'] else ''}</td></tr>" for r in rows)
        self.page("Export requests waiting for review",
                  "<table id='queue'><tr><th>request</th><th>project</th><th>author</th>"
                  "<th>state</th><th>files</th><th>automatic checks</th><th>waiting (h)</th>"
                  f"<th>my review</th></tr>{lines}</table>"
                  + ("" if rows else "<p id='empty'>Nothing to review.</p>"))


class RequestHandler(ReviewHandler):
    @web.authenticated
    def get(self, request_id: str) -> None:
        try:
            view = self.airlock.checker_view(request_id, self.viewer)
        except SdwhError as err:
            return self.refused(err)
        prefix = f"{self.settings['prefix']}requests/{escape(request_id)}"
        files = []
        for f in view["files"]:
            check = f.get("check") or {}
            status = escape(str(check.get("status", "?")))
            files.append(
                f"<tr><td><a href='{prefix}/files/{escape(f['name'])}'>{escape(f['name'])}</a>"
                f"</td><td>{escape(f['kind'])}</td><td class='{status}'>{status}</td>"
                f"<td>{escape('; '.join(check.get('reasons', [])))}</td><td>"
                f"<form method='post' action='{prefix}'>{self.xsrf_form_html()}"
                f"<input type='hidden' name='action' value='vote'>"
                f"<input type='hidden' name='file' value='{escape(f['name'])}'>"
                "<select name='decision'><option value='approve'>approve</option>"
                "<option value='changes_requested'>changes requested</option></select> "
                "<input name='comment' placeholder='comment'> <button>Vote</button></form>"
                "</td></tr>")
        votes = "".join(f"<li>{escape(v['checker'])}: {escape(v['file'])} → "
                        f"{escape(v['decision'])} {escape(v.get('comment', ''))}</li>"
                        for v in view.get("votes", []))
        decide = "".join(
            f"<form method='post' action='{prefix}' style='display:inline'>"
            f"{self.xsrf_form_html()}<input type='hidden' name='action' value='{a}'>"
            f"<input name='reason' placeholder='reason'> <button id='do-{a}'>{a}</button></form> "
            for a in ("approve", "return", "reject", "release"))
        context = escape(json.dumps(view.get("context", {}), indent=1, ensure_ascii=False))
        self.page(f"Request {request_id} ({view['state']})",
                  f"<p>Project <b>{escape(view['project_id'])}</b>, author "
                  f"<b>{escape(view['author'])}</b>; reviews complete: "
                  f"{view['reviews_complete']}</p><h2>Context</h2><pre>{context}</pre>"
                  "<h2>Files</h2><table id='files'><tr><th>file</th><th>kind</th>"
                  f"<th>automatic</th><th>reasons</th><th>your vote</th></tr>{''.join(files)}"
                  f"</table><h2>Votes you may see</h2><ul id='votes'>{votes}</ul>"
                  f"<h2>Decide</h2>{decide}")

    @web.authenticated
    def post(self, request_id: str) -> None:
        action = self.get_body_argument("action")
        reason = self.get_body_argument("reason", "")
        service, who = self.airlock, self.viewer
        try:
            if action == "vote":
                service.vote(request_id, who, self.get_body_argument("file"),
                             self.get_body_argument("decision"),
                             self.get_body_argument("comment", ""))
            elif action == "approve":
                service.approve(request_id, who)
            elif action == "return":
                service.return_request(request_id, who, reason)
            elif action == "reject":
                service.reject(request_id, who, reason)
            elif action == "release":
                service.release(request_id, who)
            else:
                raise SdwhError(f"Unknown action {action!r}.", "")
        except SdwhError as err:
            return self.refused(err)
        self.redirect(f"{self.settings['prefix']}requests/{request_id}")


class FileHandler(ReviewHandler):
    @web.authenticated
    def get(self, request_id: str, name: str) -> None:
        try:
            path = self.airlock.file_path(request_id, name, self.viewer)
        except SdwhError as err:
            return self.refused(err)
        self.set_header("Content-Type", "text/plain; charset=utf-8"
                        if path.suffix in (".csv", ".txt", ".json", ".md")
                        else "application/octet-stream")
        self.set_header("Content-Disposition", f'inline; filename="{path.name}"')
        self.finish(path.read_bytes())


class MineHandler(ReviewHandler):
    """A researcher's own requests: state, automatic verdicts and, once released, downloads.

    Served by the hub outside the enclave: this is where released outputs leave it.
    """

    @web.authenticated
    def get(self) -> None:
        prefix = self.settings["prefix"]
        rows = []
        for r in self.airlock.requests_of(self.viewer):
            files = "".join(
                f"<li>{escape(f['name'])} — automatic "
                f"<span class='{escape(str((f.get('check') or {}).get('status', '?')))}'>"
                f"{escape(str((f.get('check') or {}).get('status', '?')))}</span>"
                + (f" · <a class='download' href='{prefix}released/{escape(r['id'])}/"
                   f"{escape(f['name'])}'>download</a>" if r["state"] == "released" else "")
                + "</li>" for f in r["files"])
            notes = "".join(f"<li>{escape(c['author'])}: {escape(c['text'])}</li>"
                            for c in r["comments"])
            rows.append(f"<tr id='request-{escape(r['id'])}'><td>{escape(r['id'])}</td>"
                        f"<td>{escape(r['project_id'])}</td>"
                        f"<td class='state'>{escape(r['state'])}</td><td><ul>{files}</ul></td>"
                        f"<td><ul>{notes}</ul></td></tr>")
        self.page("My export requests",
                  "<table id='mine'><tr><th>request</th><th>project</th><th>state</th>"
                  f"<th>files</th><th>comments</th></tr>{''.join(rows)}</table>"
                  + ("" if rows else "<p id='empty'>No export requests yet.</p>"))


class ReleasedHandler(ReviewHandler):
    """Download of a released file by one of the project's researchers (audited)."""

    @web.authenticated
    def get(self, request_id: str, name: str) -> None:
        try:
            path = self.airlock.released_file(request_id, name, self.viewer)
        except SdwhError as err:
            return self.refused(err)
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Disposition", f'attachment; filename="{path.name}"')
        self.finish(path.read_bytes())


def make_app() -> web.Application:
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/airlock/")
    return web.Application([
        (prefix, QueueHandler),
        (prefix + "oauth_callback", HubOAuthCallbackHandler),
        (prefix + r"requests/([A-Za-z0-9_.-]+)", RequestHandler),
        (prefix + r"requests/([A-Za-z0-9_.-]+)/files/(.+)", FileHandler),
        (prefix + "mine", MineHandler),
        (prefix + r"released/([A-Za-z0-9_.-]+)/(.+)", ReleasedHandler),
    ], prefix=prefix, cookie_secret=os.urandom(32), xsrf_cookies=True)


def main() -> None:
    from urllib.parse import urlparse

    url = urlparse(os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:10101"))
    make_app().listen(url.port or 10101, url.hostname or "127.0.0.1")
    IOLoop.current().start()


if __name__ == "__main__":
    main()
