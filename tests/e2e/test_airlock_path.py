"""The whole output path in a real browser, with the real hub and headless Chromium.

A researcher logs in (password + TOTP), computes a table in a notebook with ``project.sql``,
saves it with ``project.save_table`` and asks for its export with ``project.request_export``;
the hub collects the staged request and the airlock checks it; two output checkers review it
blind in the review service and approve; one releases it; the researcher downloads the
released file from the review service (served by the hub, outside the enclave) and gets the
same bytes. The requester, although also listed as an output checker, is refused in the
checker view of their own request. The audit chain verifies.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from pathlib import Path

import enclave_kit as kit
import pytest
from enclave_kit import ALICE, CENSUS

from sdwh.audit.log import audit_log
from sdwh.config import Settings

pytestmark = pytest.mark.e2e

RUN = ALICE[-4:]
RESEARCHER, CHECKER1, CHECKER2 = f"e2er{RUN}", f"e2ep{RUN}", f"e2eq{RUN}"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TABLE = "by_age_band.csv"
NOTEBOOK = (
    "import os\nfrom sdwh.enclave import project\n"
    "df = project.sql(\"select age_band, count(*) as n from thm_labour_market_panel "
    "group by all order by 1\")\n"
    f"project.save_table(df, os.path.join(os.environ['SDWH_WORKSPACE'], '{TABLE}'))\n"
    f"r = project.request_export(['{TABLE}'], description='Persons per age band', "
    "how_produced='project.sql in a notebook', units='persons', "
    "population='fixture panel 2024Q1-2024Q4')\n"
    "print('STAGED', r['status'], len(df), int(df.n.sum()))")


@pytest.fixture(scope="module")
def path_hub():
    why = kit.can_isolate()
    if why:
        pytest.skip(f"the secure enclave hub cannot run here: {why}")
    home = Path(tempfile.mkdtemp(prefix="sdwh-e2e-path-"))
    os.chmod(home, 0o700)
    accounts, hub = kit.OsAccounts(), None
    # The researcher is listed as a checker too: the refusal must come from the rule that
    # nobody checks their own request, not from a missing role.
    checkers = f"{CHECKER1},{CHECKER2},{RESEARCHER}"
    try:
        accounts.add(RESEARCHER)
        settings = Settings(home=home, airlock_checkers=checkers)
        kit.make_project(settings, CENSUS, [RESEARCHER])
        secrets = {name: kit.enrol(settings, name, role) for name, role in
                   [(RESEARCHER, "researcher"), (CHECKER1, "staff"), (CHECKER2, "staff")]}
        hub = kit.start_hub(home, {"SDWH_AIRLOCK_CHECKERS": checkers})
        yield {"settings": settings, "hub": hub, "secrets": secrets, "used": {}}
    finally:
        if hub is not None:
            hub.stop()
        kit.cleanup_home(home)
        accounts.remove()


def sign_in(page, lab: dict, name: str) -> None:
    """Fill the hub's login form (the page must show it) with password and a fresh code."""
    page.wait_for_selector("#username_input")
    page.fill("#username_input", name)
    page.fill("#password_input", kit.PASSWORD)
    page.fill("#otp_input", kit.fresh_code(lab["secrets"][name], lab["used"]))
    page.click("#login_submit")


def test_request_blind_review_release_and_download_outside_the_enclave(path_hub):
    from playwright.sync_api import sync_playwright

    hub, settings = path_hub["hub"], path_hub["settings"]
    service = f"{hub.url}/services/airlock/"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                    args=CHROMIUM_ARGS)
        try:
            researcher = browser.new_context(accept_downloads=True).new_page()
            researcher.set_default_timeout(90_000)

            # The researcher: TOTP login, the project's server, a table made in a notebook
            # and its export requested from there.
            researcher.goto(hub.url + "/hub/login")
            sign_in(researcher, path_hub, RESEARCHER)
            researcher.wait_for_url(re.compile(r".*/hub/(home|spawn).*"))
            researcher.goto(f"{hub.url}/hub/spawn/{RESEARCHER}/{CENSUS}")
            researcher.wait_for_url(f"**/user/{RESEARCHER}/{CENSUS}/lab**", timeout=180_000)
            researcher.wait_for_selector(".jp-Launcher", timeout=120_000)
            out = kit.run_notebook_cell(researcher, NOTEBOOK, "STAGED", "request_export",
                                        "sdwh-e2e-airlock-path.png")
            assert "STAGED staged 4 500" in out, out

            # The hub collects the staged request (at its next poll of the server) and the
            # airlock checks it; the researcher follows it on "My requests".
            request_id, row = None, ""
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                researcher.goto(service + "mine")
                rows = researcher.locator("#mine tr[id^='request-']")
                if rows.count():
                    row = rows.first.inner_text()
                    request_id = rows.first.get_attribute("id").removeprefix("request-")
                    break
                time.sleep(3)
            assert request_id, "the hub never collected the staged export request"
            assert "submitted" in row and TABLE in row and "pass" in row, row
            assert researcher.locator("a.download").count() == 0  # nothing released yet

            # First checker: queue, request, file, vote with a comment.
            first = browser.new_context().new_page()
            first.set_default_timeout(90_000)
            first.goto(service)
            sign_in(first, path_hub, CHECKER1)
            first.wait_for_selector("#queue")
            assert request_id in first.inner_text("#queue")
            first.click(f"#queue a:text-is('{request_id}')")
            first.wait_for_selector("#files")
            assert "pass" in first.inner_text("#files")
            file_page = first.context.new_page()
            answer = file_page.goto(f"{service}requests/{request_id}/files/{TABLE}")
            assert answer.status == 200 and "age_band" in file_page.content()
            file_page.close()
            first.fill("#files input[name='comment']", "four bands of 125 persons each")
            first.click("#files button:text-is('Vote')")
            first.wait_for_selector("#votes li")
            assert "four bands of 125" in first.inner_text("#votes")
            assert "(partially_reviewed)" in first.inner_text("h1")

            # Second checker: blind to the first vote until voting, then both visible.
            second = browser.new_context().new_page()
            second.set_default_timeout(90_000)
            second.goto(f"{service}requests/{request_id}")
            sign_in(second, path_hub, CHECKER2)
            second.wait_for_selector("#files")
            assert "four bands of 125" not in second.content()
            assert second.locator("#votes li").count() == 0
            second.click("#files button:text-is('Vote')")
            second.wait_for_selector("#votes li >> nth=1")
            assert "four bands of 125" in second.inner_text("#votes")
            assert "(reviewed)" in second.inner_text("h1")
            second.click("#do-approve")
            second.wait_for_selector("h1:has-text('(approved)')")
            second.click("#do-release")
            second.wait_for_selector("h1:has-text('(released)')")

            # The requester is refused in the checker view, for the request and its files.
            for path in (f"requests/{request_id}", f"requests/{request_id}/files/{TABLE}"):
                answer = researcher.goto(service + path)
                assert answer.status == 403, path
                assert "cannot" in researcher.inner_text("#refused")
            # A checker cannot download through the researchers' route.
            answer = first.goto(f"{service}released/{request_id}/{TABLE}")
            assert answer.status == 403

            # The researcher downloads the released file outside the enclave: same bytes.
            researcher.goto(service + "mine")
            assert "released" in researcher.inner_text(f"#request-{request_id} .state")
            with researcher.expect_download() as download:
                researcher.click(f"#request-{request_id} a.download")
            got = Path(download.value.path()).read_bytes()
        finally:
            browser.close()

    workspace = Path(f"/home/{RESEARCHER}/.sdwh/projects/{CENSUS}")
    assert got == (workspace / TABLE).read_bytes()
    release = settings.root / "released" / CENSUS / request_id
    manifest = json.loads((release / "release.json").read_text())
    assert manifest["files"][TABLE]["sha256"] == hashlib.sha256(got).hexdigest()
    assert manifest["released_by"] == CHECKER2 and manifest["author"] == RESEARCHER

    log = audit_log(settings)
    assert log.verify().ok
    events = [(e["event"], e["actor"]) for e in log.events()]
    for expected in [("airlock.staged", RESEARCHER), ("airlock.created", RESEARCHER),
                     ("airlock.submitted", RESEARCHER), ("airlock.file_viewed", CHECKER1),
                     ("airlock.voted", CHECKER1), ("airlock.voted", CHECKER2),
                     ("airlock.approved", CHECKER2), ("airlock.released", CHECKER2),
                     ("airlock.downloaded", RESEARCHER)]:
        assert expected in events, expected
    assert any(e == "enclave.query" for e, _ in events)
