"""The hub's login factors, enrolment, proxy session cookie and filtering rules (pure logic)."""

from __future__ import annotations

import pytest

from sdwh.enclave.hub import filtering, passwords, totp
from sdwh.enclave.hub.accounts import LOCK_SECONDS, MAX_FAILURES, AccountStore, LoginRefused, Role
from sdwh.enclave.hub.sessions import SessionSigner

PASSWORD = "a long enough passphrase"
T0 = 1_800_000_000.0  # a fixed clock: 2027-01-15


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(tmp_path, clock):
    return AccountStore(tmp_path / "hub" / "accounts.json", clock=clock)


def test_totp_accepts_codes_one_step_either_side_and_nothing_further():
    secret = totp.new_secret()
    for offset, ok in [(-60, False), (-30, True), (0, True), (30, True), (60, False)]:
        code = totp.code_at(secret, T0 + offset)
        assert (totp.accepted_step(secret, code, T0, None) is not None) is ok, offset


def test_totp_refuses_a_replayed_or_older_code():
    secret = totp.new_secret()
    code = totp.code_at(secret, T0)
    step = totp.accepted_step(secret, code, T0, None)
    assert step == int(T0 // 30)
    assert totp.accepted_step(secret, code, T0, last_step=step) is None
    assert totp.accepted_step(secret, totp.code_at(secret, T0 - 30), T0, step) is None
    assert totp.accepted_step(secret, totp.code_at(secret, T0 + 30), T0, step) == step + 1


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", None])
def test_totp_refuses_malformed_codes(code):
    assert totp.accepted_step(totp.new_secret(), code, T0, None) is None


def test_provisioning_uri_names_issuer_and_account():
    uri = totp.provisioning_uri("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "alice")
    assert uri.startswith("otpauth://totp/VSA%20enclave:alice?")
    assert "secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP" in uri


def test_password_hash_verifies_only_the_right_password():
    stored = passwords.hash_password(PASSWORD)
    assert passwords.verify_password(PASSWORD, stored)
    assert not passwords.verify_password(PASSWORD + "x", stored)
    assert not passwords.verify_password(PASSWORD, None)
    assert not passwords.verify_password(PASSWORD, "md5$broken")
    assert stored != passwords.hash_password(PASSWORD)  # salted


@pytest.mark.parametrize(("password", "problem"), [
    ("short", "at least 12"), ("alice-is-my-password", "account name"),
    ("aaaaaaaaaaaaaaaa", "different characters"), (PASSWORD, None)])
def test_password_policy(password, problem):
    found = passwords.password_problem(password, "alice")
    assert (found is None) if problem is None else (problem in found)


def test_login_needs_both_the_password_and_a_fresh_code(store, clock):
    secret = totp.new_secret()
    store.add_enrolled("alice", Role.RESEARCHER, PASSWORD, secret)
    with pytest.raises(LoginRefused, match="wrong password"):
        store.check_login("alice", "wrong", totp.code_at(secret, clock.now))
    with pytest.raises(LoginRefused, match="one-time code"):
        store.check_login("alice", PASSWORD, "000000" if totp.code_at(secret, clock.now)
                          != "000000" else "111111")
    account = store.check_login("alice", PASSWORD, totp.code_at(secret, clock.now))
    assert account.username == "alice" and account.role is Role.RESEARCHER
    with pytest.raises(LoginRefused, match="reused"):
        store.check_login("alice", PASSWORD, totp.code_at(secret, clock.now))


def test_unknown_and_unenrolled_accounts_cannot_log_in(store, clock):
    with pytest.raises(LoginRefused, match="unknown"):
        store.check_login("mallory", PASSWORD, "123456")
    store.add("bob", Role.STAFF)
    with pytest.raises(LoginRefused, match="not enrolled"):
        store.check_login("bob", PASSWORD, "123456")


def test_repeated_failures_lock_the_account_for_a_while(store, clock):
    secret = totp.new_secret()
    store.add_enrolled("alice", Role.RESEARCHER, PASSWORD, secret)
    for _ in range(MAX_FAILURES):
        with pytest.raises(LoginRefused, match="wrong password"):
            store.check_login("alice", "nope", totp.code_at(secret, clock.now))
    with pytest.raises(LoginRefused, match="locked"):
        store.check_login("alice", PASSWORD, totp.code_at(secret, clock.now))
    clock.now += LOCK_SECONDS + 1
    assert store.check_login("alice", PASSWORD, totp.code_at(secret, clock.now))


def test_enrolment_sets_password_and_secret_only_after_a_first_code(store, clock):
    code = store.add("carol", Role.RESEARCHER)
    with pytest.raises(LoginRefused, match="wrong enrolment code"):
        store.begin_enrolment("carol", "not-the-code")
    secret = store.begin_enrolment("carol", code)
    with pytest.raises(LoginRefused, match="did not match"):
        store.finish_enrolment("carol", code, PASSWORD, "000000" if totp.code_at(
            secret, clock.now) != "000000" else "111111")
    with pytest.raises(LoginRefused, match="at least 12"):
        store.finish_enrolment("carol", code, "short", totp.code_at(secret, clock.now))
    assert not store.get("carol").enrolled
    store.finish_enrolment("carol", code, PASSWORD, totp.code_at(secret, clock.now))
    assert store.get("carol").enrolled
    with pytest.raises(LoginRefused, match="no enrolment open"):  # the code is single-use
        store.begin_enrolment("carol", code)
    clock.now += 30
    assert store.check_login("carol", PASSWORD, totp.code_at(secret, clock.now))


def test_enrolment_codes_expire(store, clock):
    code = store.add("dave", Role.RESEARCHER)
    clock.now += 8 * 86400
    with pytest.raises(LoginRefused, match="expired"):
        store.begin_enrolment("dave", code)


def test_reset_makes_the_account_enrol_again(store, clock):
    store.add_enrolled("alice", Role.RESEARCHER, PASSWORD, totp.new_secret())
    code = store.reset("alice")
    assert not store.get("alice").enrolled
    assert store.begin_enrolment("alice", code)


def test_account_file_is_private(store):
    store.add("erin", Role.STAFF)
    assert (store.path.stat().st_mode & 0o777) == 0o600


def test_proxy_cookie_names_its_user_until_it_expires_and_resists_tampering():
    signer = SessionSigner(b"k" * 32)
    cookie = signer.sign("alice", lifetime=60, now=T0)
    assert signer.username(cookie, now=T0 + 59) == "alice"
    assert signer.username(cookie, now=T0 + 61) is None
    assert SessionSigner(b"x" * 32).username(cookie, now=T0) is None
    forged = SessionSigner(b"x" * 32).sign("alice", 60, now=T0)
    assert signer.username(forged, now=T0) is None
    _payload, mac = cookie.split(".")
    other = signer.sign("bob", 60, now=T0).split(".")[0]
    assert signer.username(f"{other}.{mac}", now=T0) is None
    for junk in (None, "", "nodot", "a.b", "!!!.???"):
        assert signer.username(junk, now=T0) is None


@pytest.mark.parametrize(("method", "subpath", "query", "allowed"), [
    ("GET", "/lab", "", True),
    ("GET", "/api/contents/analysis.ipynb", "content=1", True),
    ("GET", "/api/contents/extract", "content=1", True),
    ("GET", "/api/contents/extract/panel.parquet", "content=1", False),
    ("GET", "/api/contents/extract/panel.parquet", "content=0", True),
    ("GET", "/api/contents/out.csv", "", False),
    ("GET", "/files/extract/panel.parquet", "", False),
    ("GET", "/files", "", False),
    ("GET", "/nbconvert/html/a.ipynb", "download=true", False),
    ("GET", "/api/contents/a.ipynb", "download=1", False),
    ("GET", "/api/contents/a.ipynb", "download=0", True),
    ("GET", "/view/a.html", "", False),
    ("POST", "/api/terminals", "", False),
    ("GET", "/terminals/websocket/1", "", False),
    ("GET", "/static/../files/x.csv", "", False),
    ("GET", "/%66iles/x.csv", "", False),
])
def test_request_rules(method, subpath, query, allowed):
    assert filtering.check_request(method, subpath, query).allowed is allowed


def test_contents_answers_may_carry_notebooks_and_code_but_not_data():
    assert filtering.check_contents_model({"type": "notebook", "name": "a.ipynb",
                                           "content": {}}).allowed
    assert filtering.check_contents_model({"type": "directory", "content": []}).allowed
    assert filtering.check_contents_model({"type": "file", "name": "a.py",
                                           "format": "text", "content": "x"}).allowed
    assert not filtering.check_contents_model({"type": "file", "name": "data",
                                               "format": "text", "content": "1,2"}).allowed
    assert not filtering.check_contents_model({"type": "file", "name": "a.txt",
                                               "format": "base64", "content": "AA=="}).allowed
    assert filtering.check_contents_model({"type": "file", "name": "x.csv",
                                           "content": None}).allowed


def test_binary_uploads_are_refused():
    assert not filtering.check_upload({"type": "file", "format": "base64", "content": "AA"}).allowed
    assert filtering.check_upload({"type": "notebook", "format": "json", "content": {}}).allowed


def test_server_paths_split_into_owner_server_and_rest():
    assert filtering.split_server_path("/user/alice/census/api/kernels") == (
        "alice", "census", "/api/kernels")
    assert filtering.split_server_path("/user/alice/census") == ("alice", "census", "/")
    assert filtering.split_server_path("/hub/login") is None


def test_byte_budget_is_a_hard_limit_and_static_assets_do_not_count():
    budget = filtering.SessionBudget(limit=100)
    assert budget.charge(10_000, static=True)
    assert budget.charge(60) and budget.charge(40)
    assert not budget.charge(1)
    assert budget.exceeded and not budget.charge(0)
    assert budget.as_dict()["data_bytes"] == 101 and budget.as_dict()["static_bytes"] == 10_000
