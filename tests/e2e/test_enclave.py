"""The enclave end to end: real hub (as root), real system accounts, real headless Chromium.

One hub serves the tests in file order (the browser test enrols alice first); the culling test
starts its own hub with a short idle timeout and a small byte budget.
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import enclave_kit as kit
import pytest
from enclave_kit import ALICE, BOB, CENSUS, ENDED, HEALTH

from sdwh.audit.log import audit_log
from sdwh.config import Settings
from sdwh.enclave.hub import config as hub_config
from sdwh.enclave.hub.accounts import AccountStore, Role

pytestmark = pytest.mark.e2e

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
QUERY = ("from sdwh.enclave import project\n"
         "df = project.sql(\"select age_band, count(*) as n from thm_labour_market_panel "
         "group by 1 order by 1\")\nprint('ROWS', len(df), int(df.n.sum()))")


def _make_home(prefix: str) -> Path:
    home = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(home, 0o700)
    return home


@pytest.fixture(scope="module")
def accounts():
    why = kit.can_isolate()
    if why:
        pytest.skip(f"the secure enclave hub cannot run here: {why}")
    made = kit.OsAccounts()
    try:
        made.add(ALICE)
        made.add(BOB)
        yield made
    finally:
        made.remove()


@pytest.fixture(scope="module")
def enclave(accounts):
    """A secure hub with three projects: alice's, bob's and one of alice's that has ended."""
    home = _make_home("sdwh-e2e-hub-")
    settings = Settings(home=home)
    kit.make_project(settings, CENSUS, [ALICE])
    kit.make_project(settings, HEALTH, [BOB], secret_marker="-bob")
    kit.make_project(settings, ENDED, [ALICE], end=date.today() - timedelta(days=1))
    secrets = {BOB: kit.enrol(settings, BOB)}
    hub = kit.start_hub(home)
    try:
        yield {"settings": settings, "hub": hub, "secrets": secrets, "used": {}, "home": home}
    finally:
        hub.stop()
        kit.cleanup_home(home)


def login_client(enclave, username: str) -> kit.Client:
    client = kit.Client(enclave["hub"].url, username)
    code = kit.fresh_code(enclave["secrets"][username], enclave["used"])
    assert client.call(client.login(kit.PASSWORD, code)) == 302
    client.call(client.make_token())
    return client


@pytest.fixture(scope="module")
def alice(enclave):
    """Alice enrolled (by the browser test) and logged in with an API token, server running."""
    if ALICE not in enclave["secrets"]:
        pytest.fail("the browser test did not enrol alice")
    client = login_client(enclave, ALICE)
    status, state = client.call(client.spawn(CENSUS))
    assert state == "ready", (status, state)
    yield client
    client.close()


def test_browser_enrols_logs_in_with_totp_and_runs_a_query_in_a_notebook(enclave):
    from playwright.sync_api import sync_playwright


    settings, hub = enclave["settings"], enclave["hub"]
    enrolment_code = AccountStore(hub_config.accounts_path(settings)).add(ALICE, Role.RESEARCHER)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                    args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(90_000)
            # Enrolment: code from VSA -> TOTP secret (QR) -> password + first code.
            page.goto(hub.url + "/hub/login")
            page.click("#enrol_link")
            page.fill("#enrol_username", ALICE)
            page.fill("#enrol_code", enrolment_code)
            page.click("#enrol_submit")
            secret = page.inner_text("#enrol_secret").strip()
            assert page.locator("#enrol_qr svg").count() == 1
            enclave["secrets"][ALICE] = secret
            page.fill("#enrol_password", kit.PASSWORD)
            page.fill("#enrol_password2", kit.PASSWORD)
            page.fill("#enrol_otp", kit.fresh_code(secret, enclave["used"]))
            page.click("#enrol_confirm")
            assert "Enrolment complete" in page.inner_text("#enrol_done")

            # A wrong one-time code is refused even with the right password.
            page.goto(hub.url + "/hub/login")
            page.fill("#username_input", ALICE)
            page.fill("#password_input", kit.PASSWORD)
            good = kit.fresh_code(secret, enclave["used"])
            page.fill("#otp_input", f"{(int(good) + 1) % 1_000_000:06d}")
            with page.expect_navigation():
                page.click("#login_submit")
            page.wait_for_selector("#username_input")  # the form again, not the hub
            assert "/hub/login" in page.url

            # Password + TOTP: in. Start the project's server and land in JupyterLab.
            page.fill("#username_input", ALICE)
            page.fill("#password_input", kit.PASSWORD)
            page.fill("#otp_input", kit.fresh_code(secret, enclave["used"]))
            page.click("#login_submit")
            page.wait_for_url(re.compile(r".*/hub/(home|spawn).*"))
            page.goto(f"{hub.url}/hub/spawn/{ALICE}/{CENSUS}")
            page.wait_for_url(f"**/user/{ALICE}/{CENSUS}/lab**", timeout=180_000)
            page.wait_for_selector(".jp-Launcher", timeout=120_000)
            assert page.locator("text=Download").count() == 0 or not page.get_by_role(
                "menuitem", name="Download").is_visible()

            # A notebook cell querying the read-only extract through project.sql.
            out = kit.run_notebook_cell(page, QUERY, "ROWS", "project.sql",
                                        "sdwh-e2e-notebook.png")
            assert "ROWS 4 500" in out

            # Download attempts from the browser are refused by the proxy.
            for path in ("files/extract/thm_labour_market_panel.parquet",
                         "api/contents/extract/thm_labour_market_panel.parquet?content=1",
                         "nbconvert/script/Untitled.ipynb?download=true"):
                answer = page.goto(f"{hub.url}/user/{ALICE}/{CENSUS}/{path}")
                assert answer.status == 403, path
                assert "Refused by the enclave" in page.content()
            # Another project's server: refused by the hub.
            answer = page.goto(f"{hub.url}/hub/spawn/{ALICE}/{HEALTH}")
            assert answer.status == 403
        finally:
            browser.close()


def test_other_projects_ended_projects_and_the_default_server_are_refused(enclave, alice):
    assert [alice.call(alice.spawn(name))[0] for name in (HEALTH, ENDED)] == [403, 403]

    async def default():
        async with alice.session.post(f"{alice.hub_url}/hub/api/users/{ALICE}/server",
                                      headers=alice.auth()) as r:
            return r.status

    assert alice.call(default()) == 403
    refusals = [e["details"]["project"] for e in
                audit_log(enclave["settings"]).events("hub.spawn_refused")
                if e["actor"] == ALICE]
    assert {HEALTH, ENDED} <= set(refusals)


def test_download_routes_are_refused_by_the_proxy_outside_the_server(enclave, alice):
    async def go():
        results = {}
        for path in ("files/extract/thm_labour_market_panel.parquet",
                     "api/contents/extract/thm_labour_market_panel.parquet",
                     "api/contents/extract/extract.json?download=1",
                     "nbconvert/script/Untitled.ipynb",
                     "api/terminals"):
            status, _, headers = await alice.get(alice.server_url(CENSUS, path))
            results[path] = (status, headers.get("X-Sdwh-Refused", ""))
        async with alice.session.put(
                alice.server_url(CENSUS, "api/contents/upload.bin"), headers=alice.auth(),
                json={"type": "file", "format": "base64", "content": "AAAA"}) as r:
            results["upload"] = (r.status, r.headers.get("X-Sdwh-Refused", ""))
        status, body, _ = await alice.get(alice.server_url(CENSUS, "api/contents/extract"))
        return results, status, body

    results, listing_status, listing = alice.call(go())
    for path, (status, rule) in results.items():
        assert status == 403 and rule, path
    assert listing_status == 200 and b"thm_labour_market_panel.parquet" in listing
    events = list(audit_log(enclave["settings"]).events("enclave.download_refused"))
    assert len([e for e in events if e["actor"] == ALICE]) >= len(results)


def test_socket_replacement_bypass_is_defeated(enclave, alice):
    """The reference report's exploit: unlink the server's socket, bind a rogue server there,
    fetch data through the proxy without credentials. Each step must fail."""
    attack = r'''
import os, socket
cmd = open(f"/proc/{os.getppid()}/cmdline").read().split("\0")
sock = cmd[cmd.index("--sock") + 1]
for name, step in [("unlink", lambda: os.unlink(sock)),
                   ("rename", lambda: os.rename(sock, sock + ".old")),
                   ("chmod-dir", lambda: os.chmod(os.path.dirname(sock), 0o777))]:
    try:
        step(); print(name, "SUCCEEDED")
    except OSError as e:
        print(name, "failed", e.errno)
for target in (sock, os.path.join(os.path.dirname(sock), "rogue.sock")):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(target); s.listen(); print("bind", target, "SUCCEEDED")
    except OSError as e:
        print("bind failed", e.errno)
print("token in env:", "JUPYTERHUB_API_TOKEN" in os.environ)
'''
    result = alice.call(alice.execute(CENSUS, attack))
    assert result["error"] is None, result
    out = result["stdout"]
    assert "SUCCEEDED" not in out, out
    assert out.count("failed") == 5, out

    # Whatever sits behind the socket, the proxy answers strangers itself.
    stranger = kit.Client(enclave["hub"].url, "nobody")
    bob = login_client(enclave, BOB)
    forged = {"sdwh-enclave": "ZTJlYWxpY2V8OTk5OTk5OTk5OQ.AAAA"}
    try:
        answers = [
            stranger.call(stranger.get(alice.server_url(CENSUS, "rogue/secret.csv"), auth=False)),
            stranger.call(stranger.get(alice.server_url(CENSUS, "api/contents"), auth=False)),
            bob.call(bob.get(alice.server_url(CENSUS, "api/contents"))),
            stranger.call(stranger.get(alice.server_url(CENSUS, "api/contents"), auth=False,
                                       cookies=forged)),
        ]
    finally:
        stranger.close()
        bob.close()
    for status, _body, headers in answers:
        assert status == 403 and headers.get("X-Sdwh-Refused") == "not the owner's session"
    # The real server still answers its owner: the route was never taken over.
    status, _, _ = alice.call(alice.get(alice.server_url(CENSUS, "api/status")))
    assert status == 200


def test_kernel_cannot_reach_a_listener_on_the_hosts_loopback_nor_other_data(enclave, alice):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    accepted: list[object] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(listener.accept())
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    probe = f'''
import os, socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=5); print("CONNECTED")
except OSError as e:
    print("connect failed", type(e).__name__)
print("interfaces", sorted(n for _, n in socket.if_nameindex()))
print("uid", os.getuid())
def tryread(path):
    try:
        return sorted(os.listdir(path))
    except OSError as e:
        return type(e).__name__
print("home", tryread(os.path.expanduser("~/extract")))
print("workspace", tryread(os.path.expanduser("~")))
print("datahome", tryread({str(enclave["home"])!r}))
print("projects", tryread({str(enclave["home"] / "projects")!r}))
print("bob", tryread("/home/{BOB}"))
try:
    open(os.path.expanduser("~/extract/new.csv"), "w"); print("extract WRITABLE")
except OSError as e:
    print("extract write", e.errno)
'''
    try:
        result = alice.call(alice.execute(CENSUS, probe))
    finally:
        stop.set()
        listener.close()
        thread.join(2)
    out = result["stdout"]
    assert "connect failed ConnectionRefusedError" in out, out
    assert "CONNECTED" not in out and accepted == []
    assert "interfaces ['lo']" in out
    import pwd

    assert f"uid {pwd.getpwnam(ALICE).pw_uid}" in out
    assert "thm_labour_market_panel.parquet" in out.split("home ", 1)[1].splitlines()[0]
    assert "getting-started.ipynb" in out.split("workspace ", 1)[1].splitlines()[0]
    # The data root (here under /tmp, itself private) is covered: nothing of it is visible.
    assert re.search(r"^datahome (\[\]|FileNotFoundError)$", out, re.M), out
    assert re.search(r"^projects (FileNotFoundError|PermissionError)$", out, re.M), out
    assert "bob PermissionError" in out    # homes are 0700
    assert "extract write 30" in out       # EROFS: the extract is mounted read-only


def test_queries_and_sessions_land_in_the_verified_audit_chain(enclave, alice):
    alice.call(alice.execute(CENSUS, QUERY))
    assert alice.call(alice.stop_server(CENSUS)) in (202, 204)
    log = audit_log(enclave["settings"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(
            e["actor"] == ALICE for e in log.events("enclave.session_bytes")):
        time.sleep(0.5)
    names = {e["event"] for e in log.events() if e["actor"] == ALICE}
    assert {"hub.login", "hub.login_refused", "hub.enrolled", "hub.spawn", "hub.spawn_refused",
            "enclave.download_refused", "enclave.query", "hub.stop",
            "enclave.session_bytes"} <= names
    queries = [e for e in log.events("enclave.query") if e["actor"] == ALICE]
    assert queries and all(e["details"]["spooled"] for e in queries)
    volumes = [e for e in log.events("enclave.session_bytes") if e["actor"] == ALICE][-1]
    assert volumes["details"]["data_bytes"] > 0 and volumes["details"]["refused_requests"] > 0
    result = log.verify()
    assert result.ok, result


@pytest.fixture
def culling_hub(accounts):
    home = Path(tempfile.mkdtemp(prefix="sdwh-e2e-cull-"))
    os.chmod(home, 0o700)
    settings = Settings(home=home)
    kit.make_project(settings, CENSUS, [ALICE])
    secrets = {ALICE: kit.enrol(settings, ALICE)}
    hub = kit.start_hub(home, {"SDWH_HUB_IDLE_TIMEOUT": "15", "SDWH_HUB_CULL_EVERY": "5",
                               "SDWH_HUB_SESSION_BYTES": "300000"})
    try:
        yield {"settings": settings, "hub": hub, "secrets": secrets, "used": {}, "home": home}
    finally:
        hub.stop()
        kit.cleanup_home(home)


def test_byte_budget_cuts_off_output_and_idle_servers_are_culled(culling_hub):
    client = login_client(culling_hub, ALICE)
    try:
        status, state = client.call(client.spawn(CENSUS))
        assert state == "ready", (status, state)
        result = client.call(client.execute(CENSUS, "print('x' * 100_000)\n" * 5))
        assert result["error"] and "websocket closed" in result["error"], result
        status, _body, headers = client.call(client.get(client.server_url(CENSUS, "api/status")))
        assert status == 429 and "budget" in headers.get("X-Sdwh-Refused", "")
        started = time.monotonic()

        async def running() -> bool:
            async with client.session.get(f"{client.hub_url}/hub/api/users/{ALICE}",
                                          headers=client.auth()) as r:
                return CENSUS in (await r.json())["servers"]

        while client.call(running()):
            assert time.monotonic() - started < 120, "idle server not culled within 120 s"
            time.sleep(2)
    finally:
        client.close()
    log = audit_log(culling_hub["settings"])
    assert any(e["actor"] == ALICE for e in log.events("hub.stop"))
    exceeded = [e for e in log.events("enclave.budget_exceeded") if e["actor"] == ALICE]
    assert exceeded and exceeded[0]["details"]["data_bytes"] > 300_000
    assert log.verify().ok
