"""Export requests, their files, votes and comments (the airlock's records)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from sdwh.airlock.states import BLINDED, RequestState

Decision = Literal["approve", "changes_requested"]
Kind = Literal["table", "graph", "text", "model_summary", "data"]


class Context(BaseModel):
    """What checkers need to judge an output (OpenSAFELY: ~25 % of returns lack context)."""

    description: str = Field(min_length=10, description="What the outputs show.")
    how_produced: str = Field(min_length=5, description="Method, code or notebook used.")
    units: str = Field(min_length=2, description="Units counted, e.g. persons.")
    population: str = Field(min_length=5, description="Population and period covered.")


class Check(BaseModel):
    """The automatic verdict on one file, with its evidence."""

    status: Literal["pass", "fail", "review"]
    kind: Kind
    reasons: list[str] = Field(default_factory=list)
    evidence: dict[str, Any] = Field(default_factory=dict)
    seconds: float = 0.0


class RequestFile(BaseModel):
    name: str = Field(description="Path relative to the researcher's workspace.")
    sha256: str
    bytes: int
    kind: Kind
    query: dict[str, Any] | None = Field(None, description="The sidecar of project.save_table.")
    check: Check | None = None
    differencing: dict[str, Any] | None = Field(
        None, description="The table as the differencing check sees it, once released.")


class Vote(BaseModel):
    checker: str
    file: str
    decision: Decision
    comment: str = ""
    override_reason: str | None = None
    at: datetime


class Comment(BaseModel):
    author: str
    text: str
    public: bool = Field(description="Visible to the researcher (else checkers only).")
    at: datetime


class Request(BaseModel):
    id: str
    project_id: str
    author: str
    state: RequestState = RequestState.PENDING
    context: Context
    files: list[RequestFile]
    votes: list[Vote] = Field(default_factory=list)
    comments: list[Comment] = Field(default_factory=list)
    turn: int = 1
    fast_path: bool = False
    expost_sample: bool = False
    created_at: datetime
    submitted_at: datetime | None = None
    decided_at: datetime | None = None
    released_at: datetime | None = None
    release_path: str | None = None

    def checkers(self) -> list[str]:
        """Checkers who voted in this turn, in order of first vote."""
        return list(dict.fromkeys(v.checker for v in self.votes))

    def review_complete(self, checker: str) -> bool:
        voted = {v.file for v in self.votes if v.checker == checker}
        return voted >= {f.name for f in self.files}

    def file(self, name: str) -> RequestFile:
        from sdwh.errors import SdwhError

        for f in self.files:
            if f.name == name:
                return f
        raise SdwhError(f"Request {self.id} has no file {name}.",
                        f"Files: {', '.join(f.name for f in self.files)}.")

    def view_for(self, viewer: str) -> dict[str, Any]:
        """The request as ``viewer`` may see it: blinded votes, no private comments for authors.

        Checkers see only their own votes until both reviews are in; the author sees votes
        and public comments once a decision (return, approval, rejection) has been made.
        """
        data = self.model_dump(mode="json")
        decided = self.state in (RequestState.RETURNED, RequestState.APPROVED,
                                 RequestState.REJECTED, RequestState.RELEASED)
        if viewer == self.author:
            data["votes"] = data["votes"] if decided else []
            data["comments"] = [c for c in data["comments"] if c["public"]] if decided else []
            data["expost_sample"] = None
        elif self.state in BLINDED:
            data["votes"] = [v for v in data["votes"] if v["checker"] == viewer]
            data["comments"] = [c for c in data["comments"] if c["author"] == viewer]
        data["reviews_complete"] = sum(self.review_complete(c) for c in self.checkers())
        return data
