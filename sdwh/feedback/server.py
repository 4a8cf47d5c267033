"""A small HTTP server on 127.0.0.1: the static site plus POST /feedback into the register.

Standard library only; bound to loopback (the enclave reaches it through its proxy). A form
post is validated like the CLI; the answer is a plain page with the report number.
"""

from __future__ import annotations

import html
import urllib.parse
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

from sdwh.config import Settings
from sdwh.errors import SdwhError
from sdwh.feedback import register

MAX_BODY = 16_384


class Handler(SimpleHTTPRequestHandler):
    settings: Settings

    def do_POST(self) -> None:
        if self.path.split("?")[0] != "/feedback":
            self.send_error(404)
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.send_error(413)
            return
        form = {k: v[0] for k, v in urllib.parse.parse_qs(
            self.rfile.read(length).decode("utf-8", "replace")).items()}
        try:
            with register.open_register(self.settings.root) as con:
                rec = register.report(con, form.get("dataset", ""), form.get("description", ""),
                                      form.get("variable"), form.get("quarter"),
                                      form.get("reporter"))
            from sdwh.audit.log import audit_log

            audit_log(self.settings).append("feedback.reported", "web-form", report=rec["id"],
                                            dataset=rec["dataset"])
            status, text = 200, f"Thank you: report {rec['id']} on {rec['dataset']} is stored."
        except SdwhError as err:
            status, text = 400, f"{err.message} {err.hint}"
        body = (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
                '<link rel="icon" href="data:,"><title>Feedback'
                f'</title></head><body><p id="result">{html.escape(text)}</p>'
                '<p><a href="/index.html">Back</a></p></body></html>').encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return


def make_server(settings: Settings, port: int) -> ThreadingHTTPServer:
    site = settings.root / "site"
    handler = type("SiteHandler", (Handler,), {"settings": settings})
    return ThreadingHTTPServer(("127.0.0.1", port), partial(handler, directory=str(site)))


def serve_forever(settings: Settings, port: int) -> None:
    server = make_server(settings, port)
    try:
        server.serve_forever()
    finally:
        server.server_close()
