"""The export request life cycle as an explicit state machine (pure; OpenSAFELY's airlock shape).

    pending ─submit→ submitted ─review→ partially_reviewed ─review→ reviewed
       │                 │  └─review (fast path)────────────────────────→┘ │
       │                 └──────────── return (also from partially_reviewed/reviewed)
       ↓                                    ↓                        approve / reject
    withdrawn ←─withdraw── returned ─submit→ submitted         approved ─release→ released

``review`` is the moment one checker has voted on every file. Who may take an action is
decided in :mod:`sdwh.airlock.policies`; this table only says what can follow what.
"""

from __future__ import annotations

from enum import StrEnum

from sdwh.errors import SdwhError


class RequestState(StrEnum):
    PENDING = "pending"
    SUBMITTED = "submitted"
    PARTIALLY_REVIEWED = "partially_reviewed"
    REVIEWED = "reviewed"
    APPROVED = "approved"
    RETURNED = "returned"
    REJECTED = "rejected"
    RELEASED = "released"
    WITHDRAWN = "withdrawn"


class RequestAction(StrEnum):
    SUBMIT = "submit"
    WITHDRAW = "withdraw"
    REVIEW = "review"
    FAST_REVIEW = "fast_review"
    RETURN = "return"
    APPROVE = "approve"
    REJECT = "reject"
    RELEASE = "release"


S, A = RequestState, RequestAction

#: (state, action) → next state. Anything not listed is forbidden.
TRANSITIONS: dict[tuple[RequestState, RequestAction], RequestState] = {
    (S.PENDING, A.SUBMIT): S.SUBMITTED,
    (S.PENDING, A.WITHDRAW): S.WITHDRAWN,
    (S.SUBMITTED, A.REVIEW): S.PARTIALLY_REVIEWED,
    (S.SUBMITTED, A.FAST_REVIEW): S.REVIEWED,
    (S.PARTIALLY_REVIEWED, A.REVIEW): S.REVIEWED,
    (S.SUBMITTED, A.RETURN): S.RETURNED,
    (S.PARTIALLY_REVIEWED, A.RETURN): S.RETURNED,
    (S.REVIEWED, A.RETURN): S.RETURNED,
    (S.REVIEWED, A.APPROVE): S.APPROVED,
    (S.REVIEWED, A.REJECT): S.REJECTED,
    (S.RETURNED, A.SUBMIT): S.SUBMITTED,
    (S.RETURNED, A.WITHDRAW): S.WITHDRAWN,
    (S.APPROVED, A.RELEASE): S.RELEASED,
}

FINAL = frozenset({S.RELEASED, S.REJECTED, S.WITHDRAWN})
#: States in which checkers review independently and must not see each other's votes.
BLINDED = frozenset({S.SUBMITTED, S.PARTIALLY_REVIEWED})
#: Author actions; every other action belongs to output checkers.
AUTHOR_ACTIONS = frozenset({A.SUBMIT, A.WITHDRAW})

EVENTS: dict[RequestAction, str] = {
    A.SUBMIT: "airlock.submitted", A.WITHDRAW: "airlock.withdrawn",
    A.REVIEW: "airlock.reviewed", A.FAST_REVIEW: "airlock.reviewed",
    A.RETURN: "airlock.returned", A.APPROVE: "airlock.approved", A.REJECT: "airlock.rejected",
    A.RELEASE: "airlock.released",
}


def allowed_actions(state: RequestState) -> list[RequestAction]:
    return [a for (s, a) in TRANSITIONS if s is state]


def next_state(request_id: str, state: RequestState, action: RequestAction) -> RequestState:
    """Where ``action`` leads from ``state``, or a clear error if it is not allowed."""
    try:
        return TRANSITIONS[(state, action)]
    except KeyError:
        allowed = ", ".join(a.value for a in allowed_actions(state)) or "nothing (final state)"
        raise SdwhError(f"Request {request_id} is {state.value}; it cannot {action.value}.",
                        f"In state {state.value} the allowed actions are: {allowed}.") from None
