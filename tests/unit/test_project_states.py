"""The project life cycle: every allowed transition, and every forbidden one refused clearly."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from sdwh.errors import SdwhError
from sdwh.projects.model import Project, ProjectState
from sdwh.projects.states import TRANSITIONS, ProjectAction, apply

S, A = ProjectState, ProjectAction
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def project(state: ProjectState = S.REQUESTED, **kw) -> Project:
    fields = dict(
        id="neet-2026", title="NEET youth", organisation="KU Leuven", legal_basis="art. 5 VSA",
        deliberation_ref="", requested_by="staff1", accredited=["alice", "bob"],
        researchers=[], datasets=["thm_neet_youth"], variables=["age", "is_neet"],
        period_from="2024Q1", period_to="2025Q4", start_date=date(2026, 1, 1),
        end_date=date(2026, 12, 31), retention_until=date(2031, 12, 31), created_at=NOW,
        state=state)
    return Project(**(fields | kw))


def arguments(action: ProjectAction) -> dict:
    return {A.APPROVE: {"deliberation_ref": "IVC/KSZG/26/001"}, A.CLOSE: {"reason": "done"},
            A.GRANT: {"username": "alice"}, A.REVOKE: {"username": "bob"}}.get(action, {})


def ready(state: ProjectState) -> Project:
    """A project in ``state`` for which every action's own conditions hold."""
    return project(state, researchers=["bob"])


def when(action: ProjectAction) -> datetime:
    return datetime(2027, 1, 2, tzinfo=UTC) if action is A.EXPIRE else NOW


@pytest.mark.parametrize(("state", "action"), sorted(TRANSITIONS))
def test_allowed_transition_leads_to_its_target(state, action):
    change = apply(ready(state), action, actor="staff2", now=when(action), **arguments(action))
    assert change.project.state is TRANSITIONS[(state, action)]
    assert change.from_state is state
    assert change.event.startswith("project.")


FORBIDDEN = [(s, a) for s in S for a in A if (s, a) not in TRANSITIONS]


@pytest.mark.parametrize(("state", "action"), FORBIDDEN)
def test_forbidden_transition_raises_a_clear_error(state, action):
    with pytest.raises(SdwhError) as err:
        apply(ready(state), action, actor="staff2", now=when(action), **arguments(action))
    assert f"is {state.value}; it cannot {action.value}" in err.value.message
    assert "allowed actions" in err.value.hint


def test_forbidden_list_covers_closed_as_final():
    assert {a for s, a in FORBIDDEN if s is S.CLOSED} == set(A)


def test_requester_cannot_approve_own_project():
    with pytest.raises(SdwhError, match="cannot approve it too"):
        apply(project(), A.APPROVE, actor="staff1", now=NOW, deliberation_ref="X")


def test_approval_needs_a_deliberation_reference():
    with pytest.raises(SdwhError, match="no deliberation reference"):
        apply(project(), A.APPROVE, actor="staff2", now=NOW)
    done = apply(project(), A.APPROVE, actor="staff2", now=NOW, deliberation_ref="D/1").project
    assert done.approved_by == "staff2" and done.deliberation_ref == "D/1"


def test_grant_only_to_accredited_researchers_once():
    p = project(S.ACTIVE)
    with pytest.raises(SdwhError, match="not an accredited researcher"):
        apply(p, A.GRANT, actor="staff2", now=NOW, username="mallory")
    p = apply(p, A.GRANT, actor="staff2", now=NOW, username="alice").project
    assert p.researchers == ["alice"]
    with pytest.raises(SdwhError, match="already has access"):
        apply(p, A.GRANT, actor="staff2", now=NOW, username="alice")


def test_revoked_researcher_cannot_be_granted_again():
    p = apply(project(S.ACTIVE, researchers=["alice"]), A.REVOKE, actor="staff2", now=NOW,
              username="alice", reason="left").project
    assert p.researchers == [] and p.revoked == ["alice"]
    with pytest.raises(SdwhError, match="was revoked"):
        apply(p, A.GRANT, actor="staff2", now=NOW, username="alice")
    with pytest.raises(SdwhError, match="has no access"):
        apply(p, A.REVOKE, actor="staff2", now=NOW, username="alice")


def test_expiry_only_after_the_end_date_and_activation_only_before():
    p = project(S.ACTIVE)
    with pytest.raises(SdwhError, match="runs until 2026-12-31"):
        apply(p, A.EXPIRE, actor="system", now=datetime(2026, 12, 31, 23, tzinfo=UTC))
    late = datetime(2027, 1, 1, tzinfo=UTC)
    assert apply(p, A.EXPIRE, actor="system", now=late).project.state is S.EXPIRED
    with pytest.raises(SdwhError, match="ended on 2026-12-31"):
        apply(project(S.APPROVED), A.ACTIVATE, actor="staff2", now=late)
    with pytest.raises(SdwhError, match="ended on"):
        apply(project(S.ACTIVE), A.GRANT, actor="staff2", now=late, username="alice")


def test_close_needs_a_reason():
    with pytest.raises(SdwhError, match="needs a reason"):
        apply(project(S.ACTIVE), A.CLOSE, actor="staff2", now=NOW, reason=" ")


def test_usable_only_when_active_and_within_the_window():
    p = project(S.ACTIVE)
    assert p.usable_on(date(2026, 1, 1)) and p.usable_on(date(2026, 12, 31))
    assert not p.usable_on(date(2025, 12, 31)) and not p.usable_on(date(2027, 1, 1))
    assert not project(S.APPROVED).usable_on(date(2026, 6, 1))


@pytest.mark.parametrize(("field", "value", "message"), [
    ("id", "Bad_Id", "must be 3-40"), ("period_from", "2024-01", "must be a quarter"),
    ("end_date", date(2025, 1, 1), "ends before it starts"),
    ("retention_until", date(2026, 6, 1), "retention must last"),
    ("accredited", ["Alice Smith"], "not a valid account name"), ("datasets", [], "at least one"),
])
def test_invalid_authorisation_fields_are_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        project(**{field: value})
