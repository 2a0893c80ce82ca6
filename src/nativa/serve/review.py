"""Review over HTTP: each agent request gets a review gate that defers to a person, and a pause is stored.

Nobody waits at a terminal behind a server, so the gate's prompter defers (`nativa.review.later`): the
agent stops before code that needs a person and returns its checkpoint, which `pause` stores with the
request in the review database (`review_pending`, in `<NATIVA_HOME>/nativa.db` beside the session store).
The routes answer 202 with the stored record; `runs.py` resumes it on approve or reject.

The review session an approval is scoped to is the request's `session` (per API key), else the run itself,
so "approve for this session" never leaks to another key or another run. `who` in the audit log is the
API key's name (NATIVA_API_KEY_NAME; `nativa serve` has no flag for it), else a digest of the key, else
"anonymous".
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from nativa.agent.result import AwaitingApproval
from nativa.agent.review_gate import ReviewGate
from nativa.errors import NativaError
from nativa.review import Policy, ReviewContext
from nativa.review.approvals import Approvals, Mode, Reviewer, check_mode
from nativa.review.audit import AuditLog
from nativa.review.later import Deferring
from nativa.review.pending import Ask, PendingRun, PendingRuns
from nativa.review.store import SQLiteReviewStore
from nativa.serve.errors import ApiError
from nativa.serve.memory import owner_of
from nativa.serve.state import get_state

_open_lock = threading.Lock()


@dataclass(frozen=True)
class ReviewPlan:
    """One request's review: its mode, its gate, and where a pause of it is stored."""

    run_id: str
    owner: str
    session: str
    mode: Mode
    gate: ReviewGate
    store: SQLiteReviewStore
    ttl_s: float
    resumed: bool = False  # a resumed run: a new pause updates its record instead of making one


@dataclass(frozen=True)
class Paused:
    """What a job returns when its run paused: the stored record (the 202 body)."""

    record: PendingRun
    trace_id: str | None

    def body(self) -> dict[str, Any]:
        """The 202 body: the stored record with the request's trace id."""
        return self.record.to_dict() | {"trace_id": self.trace_id}


def review_store(request: Request) -> SQLiteReviewStore:
    """The server's review database (opened once, on first use); 503 when it cannot be opened."""
    app = request.app
    store: SQLiteReviewStore | None = getattr(app.state, "nativa_review", None)
    if store is None:
        with _open_lock:
            store = getattr(app.state, "nativa_review", None)
            if store is None:
                settings = get_state(request).settings
                try:
                    store = app.state.nativa_review = SQLiteReviewStore(settings.review_db_path)
                    app.state.nativa_review_policy = Policy.load(settings.review_policy)
                except NativaError as exc:
                    raise ApiError(503, f"review is unavailable on this server: {exc}",
                                   code="review_unavailable") from None
    return store


def pending_runs(request: Request) -> PendingRuns:
    """The paused runs in this server's review database (opened on first use, 503 if it cannot be)."""
    return PendingRuns(review_store(request))


def who_of(request: Request) -> str:
    """Who answers for an approval made with this request: the key's name, else its digest."""
    owner = owner_of(request)
    if not owner:
        return "anonymous"
    return get_state(request).config.api_key_name or owner


def plan(request: Request, requested: str | None, *, granted: bool, session: str | None,
         allow_hosts: tuple[str, ...] = (), sql_backend: str = "sqlite") -> ReviewPlan | None:
    """The request's review (None for `never`); `granted`: it reaches past the sandbox (hosts, a database)."""
    mode = check_mode(requested or ("risky" if granted else "never"))
    if mode == "never":
        return None
    owner = owner_of(request)
    run_id = "run_" + secrets.token_hex(12)
    name = f"{owner or 'anonymous'}:{session}" if session else f"run:{run_id}"
    return _plan(request, run_id, owner, name, mode, allow_hosts, sql_backend, resumed=False)


def resumed_plan(request: Request, record: PendingRun) -> ReviewPlan:
    """The review of a paused run that goes on: the same run, session and mode as when it paused."""
    saved = record.request
    return _plan(request, record.id, record.owner, record.session, check_mode(str(saved["review"])),
                 tuple(saved.get("allow_hosts") or ()), str(saved.get("sql_backend") or "sqlite"), resumed=True)


def _plan(request: Request, run_id: str, owner: str, session: str, mode: Mode, allow_hosts: tuple[str, ...],
          sql_backend: str, *, resumed: bool) -> ReviewPlan:
    store = review_store(request)
    policy: Policy | None = getattr(request.app.state, "nativa_review_policy", None)
    if policy is None:
        policy = request.app.state.nativa_review_policy = Policy.load(get_state(request).settings.review_policy)
    reviewer = Reviewer(policy, mode=mode, approvals=Approvals(store), prompter=Deferring(), audit=AuditLog(store))
    context = ReviewContext(session=session, who=who_of(request), allow_hosts=allow_hosts, sql_backend=sql_backend)
    return ReviewPlan(run_id, owner, session, mode, ReviewGate(reviewer, context), store,
                      get_state(request).settings.review_approval_ttl_s, resumed)


def pause(review: ReviewPlan, kind: str, saved: dict[str, Any], pending: AwaitingApproval,
          trace_id: str | None) -> Paused:
    """Store the paused run (or, resumed, its next pause); runs on the job's thread."""
    note = pending.review
    ask = Ask(code=pending.code, code_hash=note.code_hash, findings=tuple(note.findings), max_risk=note.max_risk,
              action=note.action, reason=note.reason)
    runs = PendingRuns(review.store)
    if review.resumed:
        record = runs.repause(review.run_id, ask=ask, checkpoint=pending.checkpoint, ttl_s=review.ttl_s)
    else:
        record = runs.create(run_id=review.run_id, owner=review.owner, kind=kind, ask=ask, session=review.session,
                             request=saved | {"review": review.mode}, checkpoint=pending.checkpoint,
                             ttl_s=review.ttl_s)
    return Paused(record, trace_id)
