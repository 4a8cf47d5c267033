"""The airlock review web app as a hub service: checkers sign in through the hub (TOTP), see
the queue, open files, vote blinded and approve; authors and strangers are refused."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import enclave_kit as kit
import pytest
from enclave_kit import ALICE, CENSUS

from sdwh.audit.log import audit_log
from sdwh.config import Settings

pytestmark = pytest.mark.e2e

RUN = ALICE[-4:]
CHECKER1, CHECKER2 = f"e2ec{RUN}", f"e2ed{RUN}"


@pytest.fixture(scope="module")
def review_hub():
    why = kit.can_isolate()
    if why:
        pytest.skip(f"the secure enclave hub cannot run here: {why}")
    home = Path(tempfile.mkdtemp(prefix="sdwh-e2e-review-"))
    os.chmod(home, 0o700)
    checkers = f"{CHECKER1},{CHECKER2}"
    settings = Settings(home=home, airlock_checkers=checkers)
    kit.make_project(settings, CENSUS, [ALICE])
    secrets = {name: kit.enrol(settings, name, role) for name, role in
               [(ALICE, "researcher"), (CHECKER1, "staff"), (CHECKER2, "staff")]}
    from sdwh.airlock.service import AirlockService

    workspace = home / "workspace"
    workspace.mkdir()
    (workspace / "summary.txt").write_text("Share of 25-49 year olds per quarter: 25 %.\n")
    service = AirlockService(settings)
    request = service.create_request(CENSUS, ALICE, workspace, [Path("summary.txt")], {
        "description": "Shares of age bands per quarter", "how_produced": "notebook a.ipynb",
        "units": "persons", "population": "panel 2024Q1-2025Q4"})
    service.submit(request.id, ALICE)
    hub = kit.start_hub(home, {"SDWH_AIRLOCK_CHECKERS": checkers})
    try:
        yield {"settings": settings, "hub": hub, "secrets": secrets, "used": {},
               "request": request.id}
    finally:
        hub.stop()
        kit.cleanup_home(home)


def signed_in(hub, name: str) -> kit.Client:
    client = kit.Client(hub["hub"].url, name)
    code = kit.fresh_code(hub["secrets"][name], hub["used"])
    assert client.call(client.login(kit.PASSWORD, code)) == 302
    return client


async def fetch(client: kit.Client, path: str) -> tuple[int, str]:
    async with client.session.get(f"{client.hub_url}/services/airlock/{path}") as r:
        return r.status, await r.text()


async def post(client: kit.Client, path: str, page: str, **form: str) -> tuple[int, str]:
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page).group(1)
    async with client.session.post(f"{client.hub_url}/services/airlock/{path}",
                                   data={"_xsrf": xsrf, **form}) as r:
        return r.status, await r.text()


def test_checkers_review_blinded_and_approve_in_the_web_app(review_hub):
    request_id = review_hub["request"]
    first, second = signed_in(review_hub, CHECKER1), signed_in(review_hub, CHECKER2)
    try:
        status, queue = first.call(fetch(first, ""))
        assert status == 200 and request_id in queue, queue[:500]
        status, page = first.call(fetch(first, f"requests/{request_id}"))
        assert status == 200 and "summary.txt" in page
        status, content = first.call(fetch(first, f"requests/{request_id}/files/summary.txt"))
        assert status == 200 and "25 %" in content
        status, page = first.call(post(first, f"requests/{request_id}", page,
                                       action="vote", file="summary.txt", decision="approve",
                                       comment="fine, shares only"))
        assert status == 200 and "fine, shares only" in page
        # The second checker does not see the first one's vote before voting (blinded).
        status, page = second.call(fetch(second, f"requests/{request_id}"))
        assert status == 200 and "fine, shares only" not in page
        status, page = second.call(post(second, f"requests/{request_id}", page,
                                        action="vote", file="summary.txt", decision="approve"))
        assert status == 200 and "fine, shares only" in page  # both in: votes visible
        status, page = second.call(post(second, f"requests/{request_id}", page,
                                        action="approve"))
        assert status == 200 and "(approved)" in page, page[:800]
    finally:
        first.close()
        second.close()
    events = {e["event"] for e in audit_log(review_hub["settings"]).events("airlock.")}
    assert {"airlock.file_viewed", "airlock.voted"} <= events


def test_authors_and_anonymous_visitors_are_refused(review_hub):
    author = signed_in(review_hub, ALICE)
    try:
        status, page = author.call(fetch(author, ""))
        assert status == 403 and "not an output checker" in page
        status, _ = author.call(fetch(author, f"requests/{review_hub['request']}/files/"
                                              "summary.txt"))
        assert status == 403
    finally:
        author.close()
    stranger = kit.Client(review_hub["hub"].url, "nobody")
    try:
        async def anonymous() -> str:
            async with stranger.session.get(f"{stranger.hub_url}/services/airlock/") as r:
                return str(r.url)

        assert "/hub/login" in stranger.call(anonymous())
    finally:
        stranger.close()
