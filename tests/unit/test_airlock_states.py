"""The export request state machine and its permission and blinding rules (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sdwh.airlock.model import Check, Context, Request, RequestFile, Vote
from sdwh.airlock.policies import check_actor, check_vote
from sdwh.airlock.states import FINAL, TRANSITIONS, RequestAction, RequestState, next_state
from sdwh.errors import SdwhError

S, A = RequestState, RequestAction
NOW = datetime(2026, 11, 23, tzinfo=UTC)
CHECKERS = frozenset({"carol", "dave", "erin", "alice"})


def request(state: RequestState = S.SUBMITTED, votes: list[Vote] | None = None,
            status: str = "pass") -> Request:
    files = [RequestFile(name=n, sha256="0" * 64, bytes=10, kind="table",
                         check=Check(status=status, kind="table")) for n in ("a.csv", "b.csv")]
    return Request(id="p-r1", project_id="p", author="alice", state=state, created_at=NOW,
                   context=Context(description="Counts by sex", how_produced="project.sql",
                                   units="persons", population="residents 2025"),
                   files=files, votes=votes or [])


def vote(checker: str, file: str, decision: str = "approve") -> Vote:
    return Vote(checker=checker, file=file, decision=decision, at=NOW)


@pytest.mark.parametrize(("state", "action"), sorted(TRANSITIONS))
def test_allowed_transitions(state, action):
    assert next_state("p-r1", state, action) is TRANSITIONS[(state, action)]


FORBIDDEN = [(s, a) for s in S for a in A if (s, a) not in TRANSITIONS]


@pytest.mark.parametrize(("state", "action"), FORBIDDEN)
def test_every_forbidden_transition_is_refused_with_the_allowed_ones(state, action):
    with pytest.raises(SdwhError) as err:
        next_state("p-r1", state, action)
    assert f"is {state.value}; it cannot {action.value}" in err.value.message
    assert "allowed actions" in err.value.hint


def test_final_states_allow_nothing():
    assert {s for s in S if not any(k[0] is s for k in TRANSITIONS)} == FINAL


def test_paths_of_the_life_cycle():
    path = [S.PENDING]
    for action in (A.SUBMIT, A.REVIEW, A.REVIEW, A.APPROVE, A.RELEASE):
        path.append(next_state("r", path[-1], action))
    assert path[-1] is S.RELEASED
    assert next_state("r", S.SUBMITTED, A.FAST_REVIEW) is S.REVIEWED
    assert next_state("r", next_state("r", S.REVIEWED, A.RETURN), A.SUBMIT) is S.SUBMITTED


@pytest.mark.parametrize("action", [A.REVIEW, A.RETURN, A.APPROVE, A.REJECT, A.RELEASE])
def test_author_can_never_review_even_as_a_checker(action):
    with pytest.raises(SdwhError, match="made request p-r1 and cannot"):
        check_actor(request(), action, "alice", CHECKERS)


@pytest.mark.parametrize("action", [A.RETURN, A.APPROVE, A.RELEASE])
def test_only_checkers_act_on_requests(action):
    with pytest.raises(SdwhError, match="not an output checker"):
        check_actor(request(), action, "mallory", CHECKERS)
    check_actor(request(), action, "carol", CHECKERS)


@pytest.mark.parametrize("action", [A.SUBMIT, A.WITHDRAW])
def test_only_the_author_submits_or_withdraws(action):
    with pytest.raises(SdwhError, match="Only alice"):
        check_actor(request(), action, "carol", CHECKERS)
    check_actor(request(), action, "alice", CHECKERS)


def test_third_checker_cannot_join_a_turn():
    r = request(S.PARTIALLY_REVIEWED, [vote("carol", "a.csv"), vote("dave", "a.csv")])
    with pytest.raises(SdwhError, match="two independent reviews"):
        check_vote(r, "erin", "a.csv", "approve", None)
    check_vote(r, "dave", "b.csv", "approve", None)


def test_approving_a_failed_file_needs_an_override_reason():
    r = request(status="fail")
    with pytest.raises(SdwhError, match="overrides the verdict and needs a reason"):
        check_vote(r, "carol", "a.csv", "approve", None)
    check_vote(r, "carol", "a.csv", "approve", "cells are structural zeros")
    check_vote(r, "carol", "a.csv", "changes_requested", None)


def test_votes_are_blinded_until_both_reviews_are_in():
    votes = [vote("carol", "a.csv"), vote("carol", "b.csv"), vote("dave", "a.csv")]
    r = request(S.PARTIALLY_REVIEWED, votes)
    assert {v["checker"] for v in r.view_for("dave")["votes"]} == {"dave"}
    assert {v["checker"] for v in r.view_for("carol")["votes"]} == {"carol"}
    assert r.view_for("alice")["votes"] == []
    done = r.model_copy(update={"state": S.REVIEWED, "votes": [*votes, vote("dave", "b.csv")]})
    assert {v["checker"] for v in done.view_for("dave")["votes"]} == {"carol", "dave"}
    assert done.view_for("alice")["votes"] == []
    returned = done.model_copy(update={"state": S.RETURNED})
    assert len(returned.view_for("alice")["votes"]) == 4


def test_review_complete_only_when_every_file_has_a_vote():
    r = request(votes=[vote("carol", "a.csv")])
    assert not r.review_complete("carol")
    assert r.model_copy(update={"votes": [*r.votes, vote("carol", "b.csv")]}
                        ).review_complete("carol")
