"""The airlock's API: requesting, automatic checking, blinded review and release.

Everything the CLI (``sdwh airlock``), the researcher helper (``project.request_export``) and
the hub's review app do goes through :class:`AirlockService`. Each method loads the request,
checks permissions (:mod:`sdwh.airlock.policies`) and the state machine
(:mod:`sdwh.airlock.states`), stores the result and appends its audit event in one SQLite
transaction, so the store never holds a step the audit log does not show.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from disclosure.rules import RuleParams
from sdwh.airlock import checks
from sdwh.airlock.intake import (
    SIDECAR_SUFFIX,
    Accepted,
    Limits,
    Refused,
    make_context,
    sha256,
    validate_files,
)
from sdwh.airlock.model import Check, Comment, Context, Request, RequestFile, Vote
from sdwh.airlock.policies import (
    check_actor,
    check_checker,
    check_release_reader,
    check_vote,
    reviews_needed,
)
from sdwh.airlock.states import BLINDED, EVENTS, RequestAction, RequestState, next_state
from sdwh.airlock.store import Store
from sdwh.audit.log import AuditLog, audit_log
from sdwh.config import Settings
from sdwh.errors import SdwhError
from sdwh.projects.registry import Registry

A, S = RequestAction, RequestState
SAFE_CLASSES = frozenset({"model_summary"})
QUEUE_STATES = (S.SUBMITTED, S.PARTIALLY_REVIEWED, S.REVIEWED, S.APPROVED)


def _now() -> datetime:
    return datetime.now(UTC)


class AirlockService:
    """One airlock over ``$SDWH_HOME/airlock`` (requests) and ``$SDWH_HOME/released``."""

    def __init__(self, settings: Settings, log: AuditLog | None = None,
                 params: RuleParams | None = None) -> None:
        self.settings = settings
        self.store = Store(settings.root / "airlock")
        self.released_root = settings.root / "released"
        self.registry = Registry(settings, log)
        self._log = log
        self.params = params or RuleParams()
        self.limits = Limits(max_bytes=settings.airlock_max_file_bytes,
                             max_rows=settings.airlock_max_rows)

    @property
    def log(self) -> AuditLog:
        if self._log is None:
            self._log = audit_log(self.settings)
        return self._log

    @property
    def checkers(self) -> frozenset[str]:
        return frozenset(c.strip() for c in self.settings.airlock_checkers.split(",") if c.strip())

    def is_checker(self, username: str) -> bool:
        return username in self.checkers

    # ------------------------------------------------------------------ reading

    def get(self, request_id: str) -> Request:
        return self.store.get(request_id)

    def view(self, request_id: str, viewer: str) -> dict[str, Any]:
        """The request as ``viewer`` may see it (blinded votes; authors see no private notes)."""
        request = self.store.get(request_id)
        if viewer != request.author and not self.is_checker(viewer):
            raise SdwhError(f"{viewer} may not see request {request_id}.",
                            "Only its author and output checkers can.")
        data = request.view_for(viewer)
        if viewer != request.author:
            data["history"] = self.store.history(request_id)
        return data

    def checker_view(self, request_id: str, viewer: str) -> dict[str, Any]:
        """The request in the checkers' review view: never for its author, even a checker
        (authors follow their requests with :meth:`requests_of`)."""
        check_checker(self.store.get(request_id), viewer, self.checkers, "review")
        return self.view(request_id, viewer)

    def requests(self, project_id: str | None = None) -> list[Request]:
        return self.store.all(project_id)

    def queue(self, viewer: str, now: datetime | None = None) -> list[dict[str, Any]]:
        """Requests waiting for checkers, oldest first, with waiting time and what is next."""
        if not self.is_checker(viewer):
            raise SdwhError(f"{viewer} is not an output checker.",
                            "Output checkers are listed in SDWH_AIRLOCK_CHECKERS.")
        now = now or _now()
        out = []
        for r in self.store.all():
            if r.state not in QUEUE_STATES:
                continue
            waited = (now - (r.submitted_at or r.created_at)).total_seconds() / 3600
            out.append({
                "id": r.id, "project": r.project_id, "author": r.author, "state": r.state.value,
                "files": len(r.files), "waiting_hours": round(waited, 2),
                "automatic": _worst(r), "fast_path": r.fast_path,
                "own_request": r.author == viewer,
                "my_review": "complete" if r.review_complete(viewer) else (
                    "started" if viewer in r.checkers() else "none"),
                "reviews_complete": sum(r.review_complete(c) for c in r.checkers())})
        return sorted(out, key=lambda x: -x["waiting_hours"])

    def file_path(self, request_id: str, name: str, viewer: str) -> Path:
        """A file's path for a checker to open; never for the author (audited)."""
        request = self.store.get(request_id)
        check_checker(request, viewer, self.checkers, "open files of")
        request.file(name)
        self.log.append("airlock.file_viewed", viewer, request=request_id, file=name)
        return self.store.files_dir(request_id) / name

    def requests_of(self, viewer: str) -> list[dict[str, Any]]:
        """The researcher's own requests, newest first, as they may see them."""
        mine = [r for r in self.store.all() if r.author == viewer]
        return [r.view_for(viewer) for r in sorted(mine, key=lambda r: r.created_at,
                                                    reverse=True)]

    def released_file(self, request_id: str, name: str, viewer: str) -> Path:
        """A released file for one of the project's researchers to download (checksum
        verified against the reviewed file; audited)."""
        request = self.store.get(request_id)
        check_release_reader(request, self.registry.get(request.project_id).researchers,
                             viewer)
        expected = request.file(name).sha256
        path = Path(request.release_path or "") / name
        if not path.is_file() or path.is_symlink() or sha256(path) != expected:
            raise SdwhError(f"The released copy of {name} (request {request_id}) does not match "
                            "the checksum it was reviewed with.",
                            "Ask VSA staff to check the released area.")
        self.log.append("airlock.downloaded", viewer, request=request_id, file=name,
                        sha256=expected)
        return path

    def sampled(self) -> list[dict[str, Any]]:
        """Fast-path releases drawn for an ex-post second review."""
        return [{"id": r.id, "project": r.project_id, "released_at": r.released_at,
                 "release_path": r.release_path}
                for r in self.store.all() if r.expost_sample]

    # ------------------------------------------------------------------ researcher side

    def create_request(self, project_id: str, author: str, workspace: Path,
                       paths: list[Path], context: Context | dict[str, Any],
                       on: date | None = None) -> Request:
        """Copy the files into a new pending request; bad input is refused and audited."""
        project = self.registry.get(project_id)
        if author not in project.researchers or not project.usable_on(on or _now().date()):
            self._refuse(author, project_id, "no_access", f"{author} has no active access to "
                         f"project {project_id}")
        try:
            ctx = context if isinstance(context, Context) else make_context(**context)
        except SdwhError as err:
            self._refuse(author, project_id, "context", err.message.rstrip("."))
        extract = self.registry.current_extract(project_id)
        try:
            accepted = validate_files(workspace, paths, self.limits, extract)
        except Refused as err:
            self.log.append("airlock.refused", author, project=project_id, file=err.name,
                            rule=err.rule, reason=err.message)
            raise
        now = _now()
        with self.store.transaction() as con:
            request_id = self.store.next_id(con, project_id)
            folder = self.store.request_dir(request_id)
            _copy_in(accepted, folder)
            request = Request(id=request_id, project_id=project_id, author=author,
                              context=ctx, created_at=now, files=[
                                  RequestFile(name=a.name, sha256=a.sha256, bytes=a.bytes,
                                              kind=a.kind, query=a.query) for a in accepted])
            self.store.save(con, request, now.isoformat())
            self.store.record(con, request_id, "create", None, S.PENDING.value, author,
                              now.isoformat(), {"files": [a.name for a in accepted]})
            self.log.append("airlock.created", author, request=request_id, project=project_id,
                            files={a.name: a.sha256 for a in accepted})
        return request

    def submit(self, request_id: str, actor: str) -> Request:
        """Run the automatic checks and hand the request to the checkers."""
        request = self.store.get(request_id)
        check_actor(request, A.SUBMIT, actor, self.checkers)
        next_state(request.id, request.state, A.SUBMIT)
        checked = self.run_checks(request)
        with self.store.transaction() as con:
            current = self.store.load(con, request_id)
            next_state(current.id, current.state, A.SUBMIT)
            returned = current.state is S.RETURNED
            checked = checked.model_copy(update={
                "votes": [], "turn": current.turn + returned, "submitted_at": _now()})
            self._transition(con, checked, A.SUBMIT, actor, {
                "turn": checked.turn, "fast_path": checked.fast_path,
                "automatic": {f.name: f.check.status for f in checked.files if f.check}})
        return self.store.get(request_id)

    def replace_files(self, request_id: str, author: str, workspace: Path,
                      paths: list[Path]) -> Request:
        """Swap the files of a pending or returned request (then submit it again)."""
        request = self.store.get(request_id)
        check_actor(request, A.SUBMIT, author, self.checkers)
        if request.state not in (S.PENDING, S.RETURNED):
            raise SdwhError(f"Request {request_id} is {request.state.value}; files can be "
                            "changed while it is pending or returned.", "")
        try:
            accepted = validate_files(workspace, paths, self.limits,
                                      self.registry.current_extract(request.project_id))
        except Refused as err:
            self.log.append("airlock.refused", author, project=request.project_id,
                            request=request_id, file=err.name, rule=err.rule,
                            reason=err.message)
            raise
        folder = self.store.request_dir(request_id)
        staging = folder.with_name(f".new-{request_id}-{os.getpid()}")
        _copy_in(accepted, staging)
        with self.store.transaction() as con:
            current = self.store.load(con, request_id)
            if current.state is not request.state:
                shutil.rmtree(staging, ignore_errors=True)
                raise SdwhError(f"Request {request_id} changed meanwhile.", "Try again.")
            old = folder.with_name(f".old-{request_id}-{os.getpid()}")
            os.rename(folder, old)
            os.rename(staging, folder)
            shutil.rmtree(old, ignore_errors=True)
            current = current.model_copy(update={"files": [
                RequestFile(name=a.name, sha256=a.sha256, bytes=a.bytes, kind=a.kind,
                            query=a.query) for a in accepted]})
            self.store.save(con, current, _now().isoformat())
            self.store.record(con, request_id, "replace_files", current.state.value,
                              current.state.value, author, _now().isoformat(),
                              {"files": [a.name for a in accepted]})
            self.log.append("airlock.files_replaced", author, request=request_id,
                            files={a.name: a.sha256 for a in accepted})
        return current

    def withdraw(self, request_id: str, actor: str) -> Request:
        return self._simple(request_id, A.WITHDRAW, actor, {})

    def collect_outbox(self, outbox: Path, project_id: str, author: str) -> list[Request]:
        """Hub side: turn submissions staged by ``project.request_export`` into requests.

        ``author`` is the session's owner as the hub knows it (the staged claim is ignored).
        Each staged folder is validated again, submitted, and moved to ``outbox/.collected``.
        """
        done = []
        for staged in sorted(p for p in Path(outbox).iterdir() if not p.name.startswith(".")):
            files = staged / "files"
            try:
                # written from inside the sandbox: links could point at anything
                if any(p.is_symlink() for p in (staged, files, staged / "submission.json")) \
                        or not files.is_dir():
                    self._refuse(author, project_id, "symlink", f"staged submission "
                                 f"{staged.name} is not a plain folder")
                meta = json.loads((staged / "submission.json").read_text())
                paths = [Path(f["name"]) for f in meta["files"]]
                request = self.create_request(project_id, author, files, paths,
                                              meta["context"])
                done.append(self.submit(request.id, author))
            finally:
                target = Path(outbox) / ".collected" / staged.name
                target.parent.mkdir(exist_ok=True)
                os.replace(staged, target)
        return done

    # ------------------------------------------------------------------ checker side

    def vote(self, request_id: str, checker: str, file: str, decision: str,
             comment: str = "", override_reason: str | None = None) -> Request:
        """Record one checker's vote on one file; a complete review moves the request on."""
        with self.store.transaction() as con:
            request = self.store.load(con, request_id)
            check_checker(request, checker, self.checkers, "review")
            if request.state not in BLINDED:
                raise SdwhError(f"Request {request_id} is {request.state.value}; votes are "
                                "taken while it is submitted or partially reviewed.",
                                "Return the request to change a completed review.")
            check_vote(request, checker, file, decision, override_reason)
            was_complete = request.review_complete(checker)
            vote = Vote(checker=checker, file=file, decision=decision, comment=comment,
                        override_reason=override_reason, at=_now())
            votes = [v for v in request.votes if (v.checker, v.file) != (checker, file)]
            request = request.model_copy(update={"votes": [*votes, vote]})
            self.store.save(con, request, _now().isoformat())
            self.log.append("airlock.voted", checker, request=request_id, file=file,
                            decision=decision)
            auto = request.file(file).check
            if override_reason and auto is not None and auto.status == "fail":
                self.log.append("airlock.override", checker, request=request_id, file=file,
                                automatic=auto.status, reason=override_reason)
            if not was_complete and request.review_complete(checker):
                fast = request.fast_path and request.state is S.SUBMITTED
                self._transition(con, request, A.FAST_REVIEW if fast else A.REVIEW, checker,
                                 {"reviews_complete": sum(request.review_complete(c)
                                                          for c in request.checkers())})
        return self.store.get(request_id)

    def comment(self, request_id: str, actor: str, text: str, public: bool = False) -> Request:
        """A note on the request: private (checkers) or public (also the researcher)."""
        with self.store.transaction() as con:
            request = self.store.load(con, request_id)
            if actor != request.author:
                check_checker(request, actor, self.checkers, "comment on")
            note = Comment(author=actor, text=text, public=public or actor == request.author,
                           at=_now())
            request = request.model_copy(update={"comments": [*request.comments, note]})
            self.store.save(con, request, _now().isoformat())
            self.log.append("airlock.commented", actor, request=request_id, public=note.public)
        return request

    def return_request(self, request_id: str, checker: str, reason: str) -> Request:
        """Send the request back to the researcher with a public reason."""
        return self._simple(request_id, A.RETURN, checker, {"reason": _required(reason)},
                            note=reason)

    def reject(self, request_id: str, checker: str, reason: str) -> Request:
        return self._simple(request_id, A.REJECT, checker, {"reason": _required(reason)},
                            note=reason)

    def approve(self, request_id: str, checker: str) -> Request:
        """Approve a reviewed request: every file approved by the required reviewers."""
        request = self.store.get(request_id)
        check_actor(request, A.APPROVE, checker, self.checkers)
        next_state(request.id, request.state, A.APPROVE)
        problems = []
        for f in request.files:
            votes = [v for v in request.votes if v.file == f.name]
            if any(v.decision != "approve" for v in votes):
                problems.append(f"{f.name}: changes requested")
            elif len({v.checker for v in votes}) < reviews_needed(request):
                problems.append(f"{f.name}: not approved by {reviews_needed(request)} checkers")
        if problems:
            raise SdwhError(f"Request {request_id} cannot be approved: {'; '.join(problems)}.",
                            "Return it to the researcher or reject it.")
        return self._simple(request_id, A.APPROVE, checker, {})

    def release(self, request_id: str, checker: str) -> Request:
        """Copy approved files with checksums to the released area (atomically) and audit."""
        request = self.store.get(request_id)
        check_actor(request, A.RELEASE, checker, self.checkers)
        next_state(request.id, request.state, A.RELEASE)
        findings = self._differencing_at_release(request)
        if findings:
            raise SdwhError(f"Request {request_id} would now reveal cells together with "
                            f"outputs released since it was checked: {findings[0]}.",
                            "Return the request to the researcher.")
        target = self.released_root / request.project_id / request.id
        _copy_out(request, self.store.files_dir(request.id), target, checker)
        sample = request.fast_path and secrets.randbelow(10_000) < int(
            self.settings.airlock_fast_path_sample * 10_000)
        with self.store.transaction() as con:
            current = self.store.load(con, request_id).model_copy(update={
                "released_at": _now(), "release_path": str(target), "expost_sample": sample})
            self._transition(con, current, A.RELEASE, checker, {
                "path": str(target), "files": {f.name: f.sha256 for f in current.files}})
            if sample:
                self.log.append("airlock.expost_sampled", "system", request=request_id,
                                rate=self.settings.airlock_fast_path_sample)
        return self.store.get(request_id)

    # ------------------------------------------------------------------ automatic checks

    def run_checks(self, request: Request) -> Request:
        """Automatic verdicts on every file, then differencing against released outputs."""
        released = self.released_definitions(request.project_id, exclude=request.id)
        folder = self.store.files_dir(request.id)
        sessions: dict[str, Any] = {}
        files = []
        try:
            for f in request.files:
                check, definition = self._check_file(request, f, folder / f.name, sessions)
                files.append(f.model_copy(update={"check": check, "differencing": definition}))
            files = self._check_differencing(request, files, released, sessions)
        finally:
            for con, _ in sessions.values():
                con.close()
        fast = self.settings.airlock_fast_path and all(
            f.check is not None and f.check.status == "pass" and f.check.kind in SAFE_CLASSES
            for f in files)
        self.log.append("airlock.checked", "system", request=request.id, fast_path=fast,
                        verdicts={f.name: f.check.status for f in files if f.check})
        return request.model_copy(update={"files": files, "fast_path": fast})

    def _session(self, request: Request, f: RequestFile, sessions: dict[str, Any]):
        from sdwh.projects.access import open_extract
        from sdwh.projects.extract import extracts_dir

        # the extract version the query ran on (sidecar), else the project's current one
        extract_id = str((f.query or {}).get("extract_id") or "")
        folder = extracts_dir(self.settings, request.project_id) / extract_id
        if not extract_id or "/" in extract_id or not (folder / "extract.json").is_file():
            folder = self.registry.current_extract(request.project_id)
        if folder is None:
            return None
        key = str(folder)
        if key not in sessions:
            sessions[key] = open_extract(folder, threads=self.settings.duckdb_threads)
        return sessions[key]

    def _check_file(self, request: Request, f: RequestFile, path: Path,
                    sessions: dict[str, Any]) -> tuple[Check, dict[str, Any] | None]:
        started = _now()
        definition = None
        session = self._session(request, f, sessions) if f.query else None
        if f.kind == "table" and f.query and session is not None:
            con, manifest = session
            tables = {n: t["columns"] for n, t in manifest["tables"].items()}
            check, definition = checks.check_query_table(con, tables, f, path, self.params,
                                                         manifest)
            if f.query.get("file_sha256") not in (None, f.sha256):
                check = check.model_copy(update={
                    "status": "review" if check.status == "pass" else check.status,
                    "reasons": [*check.reasons, "the file changed after project.save_table "
                                "wrote it"]})
        else:
            check = checks.check_other(f, path, self.params)
        seconds = round((_now() - started).total_seconds(), 3)
        return check.model_copy(update={"seconds": seconds}), definition

    def _check_differencing(self, request: Request, files: list[RequestFile],
                            released: list[dict[str, Any]], sessions: dict[str, Any]
                            ) -> list[RequestFile]:
        run = checks.Differencing(released, self.params.threshold,
                                  [f.differencing for f in files if f.differencing])
        out = []
        for f in files:
            if f.differencing is None:
                out.append(f)
                continue
            started = _now()
            con, _ = self._session(request, f, sessions)
            compared = [d["name"] for d in run.known if d["source"] == f.differencing["source"]]
            findings = run.check(con, f.differencing)
            check = f.check
            evidence = {**check.evidence, "differencing": {
                "compared_with": compared, "findings": findings}}
            reasons = list(check.reasons)
            status = check.status
            if findings:
                status = "fail"
                reasons.append(f"differencing: {findings[0]['explanation']}" +
                               (f" (+{len(findings) - 1} more)" if len(findings) > 1 else ""))
            seconds = check.seconds + round((_now() - started).total_seconds(), 3)
            out.append(f.model_copy(update={"check": check.model_copy(update={
                "status": status, "reasons": reasons, "evidence": evidence,
                "seconds": seconds})}))
        return out

    def released_definitions(self, project_id: str, exclude: str | None = None
                             ) -> list[dict[str, Any]]:
        """Differencing definitions of every table already released for the project."""
        return [f.differencing for r in self.store.all(project_id)
                if r.state is S.RELEASED and r.id != exclude
                for f in r.files if f.differencing]

    def _differencing_at_release(self, request: Request) -> list[str]:
        released = self.released_definitions(request.project_id, exclude=request.id)
        candidates = [f for f in request.files if f.differencing]
        if not released or not candidates:
            return []
        sessions: dict[str, Any] = {}
        try:
            run = checks.Differencing(released, self.params.threshold,
                                      [f.differencing for f in candidates])
            found = []
            for f in candidates:
                con, _ = self._session(request, f, sessions)
                found += [x["explanation"] for x in run.check(con, f.differencing)]
            return found
        finally:
            for con, _ in sessions.values():
                con.close()

    # ------------------------------------------------------------------ internals

    def _simple(self, request_id: str, action: RequestAction, actor: str,
                details: dict[str, Any], note: str | None = None) -> Request:
        with self.store.transaction() as con:
            request = self.store.load(con, request_id)
            check_actor(request, action, actor, self.checkers)
            if note:
                request = request.model_copy(update={"comments": [
                    *request.comments, Comment(author=actor, text=note, public=True,
                                               at=_now())]})
            self._transition(con, request, action, actor, details)
        return self.store.get(request_id)

    def _transition(self, con: sqlite3.Connection, request: Request, action: RequestAction,
                    actor: str, details: dict[str, Any]) -> Request:
        target = next_state(request.id, request.state, action)
        update: dict[str, Any] = {"state": target}
        if target in (S.APPROVED, S.REJECTED, S.RETURNED):
            update["decided_at"] = _now()
        new = request.model_copy(update=update)
        now = _now().isoformat()
        self.store.save(con, new, now)
        self.store.record(con, request.id, action.value, request.state.value, target.value,
                          actor, now, details)
        self.log.append(EVENTS[action], actor, request=request.id, project=request.project_id,
                        from_state=request.state.value, to_state=target.value, **details)
        return new

    def _refuse(self, actor: str, project_id: str, rule: str, message: str) -> None:
        self.log.append("airlock.refused", actor, project=project_id, rule=rule, reason=message)
        raise SdwhError(message[0].upper() + message[1:] + ".",
                        "See docs/output-checking.md for what an export request needs.")


def _required(reason: str) -> str:
    if not (reason or "").strip():
        raise SdwhError("This decision needs a reason for the researcher.", "Pass --reason.")
    return reason


def _worst(request: Request) -> str:
    statuses = [f.check.status for f in request.files if f.check]
    return next((s for s in ("fail", "review", "pass") if s in statuses), "unchecked")


def _copy_in(accepted: list[Accepted], folder: Path) -> None:
    """Copy the researcher's files (and sidecars) into the request folder, whole or not at all."""
    tmp = folder.with_name(f".tmp-{folder.name}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    for a in accepted:
        target = tmp / "files" / a.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(a.path, target)
        if sha256(target) != a.sha256:
            shutil.rmtree(tmp, ignore_errors=True)
            raise SdwhError(f"{a.name} changed while it was being copied.",
                            "Request the export again when the file is no longer written.")
        if a.query is not None:
            target.with_name(target.name + SIDECAR_SUFFIX).write_text(json.dumps(a.query))
    if folder.exists():
        raise SdwhError(f"Request folder {folder} already exists.", "This is a bug.")
    os.rename(tmp, folder)


def _copy_out(request: Request, source: Path, target: Path, checker: str) -> None:
    """Released files with a manifest of checksums, appearing whole or not at all."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".tmp-{target.name}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        manifest = {"request": request.id, "project": request.project_id,
                    "author": request.author, "released_by": checker,
                    "released_at": _now().isoformat(timespec="seconds"),
                    "context": request.context.model_dump(), "files": {}}
        for f in request.files:
            out = tmp / f.name
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / f.name, out)
            digest = sha256(out)
            if digest != f.sha256:
                raise SdwhError(f"{f.name} in request {request.id} no longer matches the "
                                "checksum it was reviewed with.", "Do not release; investigate "
                                "the airlock store.")
            with out.open("rb") as fh:
                os.fsync(fh.fileno())
            manifest["files"][f.name] = {"sha256": digest, "bytes": f.bytes,
                                         "automatic_check": f.check.status if f.check else None}
        (tmp / "release.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        if target.exists():
            raise SdwhError(f"{target} already exists.", "The request was released before.")
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
