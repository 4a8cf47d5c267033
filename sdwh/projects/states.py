"""The project life cycle as an explicit state machine (pure: no I/O, no clock).

One table says which action is allowed in which state and where it leads; :func:`apply`
checks the action's own conditions (four eyes on approval, dates, who is accredited) and
returns the new project. The registry persists the result and writes the audit event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from sdwh.errors import SdwhError
from sdwh.projects.model import Project, ProjectState

S = ProjectState


class ProjectAction(StrEnum):
    APPROVE = "approve"
    ACTIVATE = "activate"
    EXPIRE = "expire"
    CLOSE = "close"
    GRANT = "grant"
    REVOKE = "revoke"


A = ProjectAction

#: (state, action) → next state. Anything not listed is forbidden.
TRANSITIONS: dict[tuple[ProjectState, ProjectAction], ProjectState] = {
    (S.REQUESTED, A.APPROVE): S.APPROVED,
    (S.APPROVED, A.ACTIVATE): S.ACTIVE,
    (S.ACTIVE, A.EXPIRE): S.EXPIRED,
    (S.REQUESTED, A.CLOSE): S.CLOSED,
    (S.APPROVED, A.CLOSE): S.CLOSED,
    (S.ACTIVE, A.CLOSE): S.CLOSED,
    (S.EXPIRED, A.CLOSE): S.CLOSED,
    (S.APPROVED, A.GRANT): S.APPROVED,
    (S.ACTIVE, A.GRANT): S.ACTIVE,
    (S.APPROVED, A.REVOKE): S.APPROVED,
    (S.ACTIVE, A.REVOKE): S.ACTIVE,
    (S.EXPIRED, A.REVOKE): S.EXPIRED,
}

#: The audit event each action writes.
EVENTS: dict[ProjectAction, str] = {
    A.APPROVE: "project.approved", A.ACTIVATE: "project.activated",
    A.EXPIRE: "project.expired", A.CLOSE: "project.closed",
    A.GRANT: "project.granted", A.REVOKE: "project.revoked",
}


@dataclass(frozen=True)
class Change:
    """What one action did, for the registry to store and audit."""

    project: Project
    action: ProjectAction
    from_state: ProjectState
    details: dict[str, str]

    @property
    def event(self) -> str:
        return EVENTS[self.action]


def allowed_actions(state: ProjectState) -> list[ProjectAction]:
    return [a for (s, a) in TRANSITIONS if s is state]


def next_state(project: Project, action: ProjectAction) -> ProjectState:
    """The state ``action`` leads to, or a clear error when it is not allowed now."""
    try:
        return TRANSITIONS[(project.state, action)]
    except KeyError:
        allowed = ", ".join(a.value for a in allowed_actions(project.state)) or "nothing"
        raise SdwhError(
            f"Project {project.id} is {project.state.value}; it cannot {action.value}.",
            f"In state {project.state.value} the allowed actions are: {allowed}.") from None


def apply(project: Project, action: ProjectAction, *, actor: str, now: datetime,
          username: str | None = None, reason: str | None = None,
          deliberation_ref: str | None = None) -> Change:
    """Perform ``action`` on ``project`` (pure); raise SdwhError if it is forbidden."""
    target = next_state(project, action)
    today = now.date()
    update: dict[str, object] = {"state": target}
    details: dict[str, str] = {}
    if action is A.APPROVE:
        ref = deliberation_ref or project.deliberation_ref
        if not ref.strip():
            raise SdwhError(f"Project {project.id} has no deliberation reference.",
                            "Approve with --deliberation REF (the authorisation's reference).")
        if actor == project.requested_by:
            raise SdwhError(f"{actor} requested project {project.id} and cannot approve it too.",
                            "Another VSA staff member must approve (four eyes).")
        update |= {"deliberation_ref": ref, "approved_by": actor, "approved_at": now}
        details["deliberation_ref"] = ref
    elif action is A.ACTIVATE:
        _not_after_end(project, today, "activated")
    elif action is A.EXPIRE:
        if today <= project.end_date:
            raise SdwhError(f"Project {project.id} runs until {project.end_date}; it cannot "
                            f"expire on {today}.", "Close it instead to end access early.")
    elif action is A.CLOSE:
        if not (reason or "").strip():
            raise SdwhError(f"Closing project {project.id} needs a reason.",
                            "Pass --reason, e.g. 'research finished' or 'authorisation "
                            "withdrawn'.")
        update["closed_reason"] = reason
        details["reason"] = reason or ""
    elif action is A.GRANT:
        update["researchers"] = _grant(project, username, today)
        details["username"] = username or ""
    elif action is A.REVOKE:
        if username not in project.researchers:
            raise SdwhError(f"{username} has no access to project {project.id}.",
                            f"Granted researchers: {', '.join(project.researchers) or 'none'}.")
        update["researchers"] = [r for r in project.researchers if r != username]
        update["revoked"] = [*project.revoked, username]
        details |= {"username": username or "", "reason": reason or ""}
    new = project.model_copy(update=update)
    return Change(project=Project.model_validate(new.model_dump()), action=action,
                  from_state=project.state, details=details)


def _not_after_end(project: Project, today: date, what: str) -> None:
    if today > project.end_date:
        raise SdwhError(f"Project {project.id} ended on {project.end_date}; it cannot be {what}.",
                        "Record a new authorisation (a new project) to continue the research.")


def _grant(project: Project, username: str | None, today: date) -> list[str]:
    if not username:
        raise SdwhError("Granting access needs a researcher's account name.", "")
    if username in project.revoked:
        raise SdwhError(f"{username}'s access to project {project.id} was revoked.",
                        "A revoked researcher needs an amended authorisation (a new project).")
    if username not in project.accredited:
        raise SdwhError(f"{username} is not an accredited researcher of project {project.id}.",
                        f"Accredited: {', '.join(project.accredited)}.")
    if username in project.researchers:
        raise SdwhError(f"{username} already has access to project {project.id}.", "")
    _not_after_end(project, today, "granted to anyone")
    return [*project.researchers, username]
