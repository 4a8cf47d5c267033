"""Who may do what to an export request: every permission rule of the airlock in one place."""

from __future__ import annotations

from sdwh.airlock.model import Request
from sdwh.airlock.states import AUTHOR_ACTIONS, RequestAction
from sdwh.errors import SdwhError

REVIEWERS_PER_TURN = 2


def check_actor(request: Request, action: RequestAction, actor: str,
                checkers: frozenset[str]) -> None:
    """Authors submit and withdraw their own requests; checkers do the rest, never on their own."""
    if action in AUTHOR_ACTIONS:
        if actor != request.author:
            raise SdwhError(f"Only {request.author}, who made request {request.id}, can "
                            f"{action.value} it.", "")
        return
    check_checker(request, actor, checkers, action.value)


def check_checker(request: Request, actor: str, checkers: frozenset[str], what: str) -> None:
    if actor == request.author:
        raise SdwhError(f"{actor} made request {request.id} and cannot {what} it.",
                        "Another output checker must review it (the author never reviews "
                        "their own request).")
    if actor not in checkers:
        raise SdwhError(f"{actor} is not an output checker and cannot {what} request "
                        f"{request.id}.", "Output checkers are listed in SDWH_AIRLOCK_CHECKERS.")


def check_vote(request: Request, checker: str, file: str, decision: str,
               override_reason: str | None) -> None:
    """A third checker cannot join a turn; approving a failed file needs a recorded reason."""
    voters = request.checkers()
    if checker not in voters and len(voters) >= REVIEWERS_PER_TURN:
        raise SdwhError(f"Request {request.id} already has two independent reviews in "
                        "progress.", f"Reviewers: {', '.join(voters)}.")
    check = request.file(file).check
    if decision == "approve" and check is not None and check.status == "fail" and not (
            override_reason or "").strip():
        raise SdwhError(f"{file} failed the automatic check; approving it overrides the "
                        "verdict and needs a reason.",
                        "Vote again with --override-reason 'why the output is safe'.")


def reviews_needed(request: Request) -> int:
    return 1 if request.fast_path else REVIEWERS_PER_TURN


def check_release_reader(request: Request, researchers: list[str], viewer: str) -> None:
    """Released files go to the project's researchers, from outside the enclave, once released."""
    from sdwh.airlock.states import RequestState

    if viewer not in researchers:
        raise SdwhError(f"{viewer} is not a researcher of project {request.project_id} and "
                        f"cannot download the outputs of request {request.id}.",
                        "Released outputs go to the project's researchers.")
    if request.state is not RequestState.RELEASED:
        raise SdwhError(f"Request {request.id} is {request.state.value}, not released.",
                        "Files can be downloaded once output checkers have released them.")
