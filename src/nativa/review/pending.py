"""Runs paused for a person's approval: stored in the review tables, claimed exactly once.

Over HTTP a review that needs a person cannot wait for one, so the run pauses: the server stores what it
needs to go on (the request and the agent's checkpoint, both JSON) beside what the person must see (the
code and its findings), and answers 202. A person approves or rejects it later, maybe on another server
process or after a restart, since all of it is in the SQLite file. `claim` is the one way from
`awaiting_approval` to `running`: a conditional UPDATE in one write transaction, so of two approvals (a
retry, two browsers, two server processes) exactly one wins and the code runs once. A run that nobody
answers expires.

    runs = PendingRuns(SQLiteReviewStore(settings.review_db_path))
    runs.list_pending(owner)                    # what awaits a person
    run = runs.get(run_id, owner)               # None when unknown (or another key's)
    claimed = runs.approve(run_id, "ops", owner=owner)   # PendingRunConflictError if someone was first
    runs.reject(run_id, "ops", "no network, please", owner=owner)

Claiming changes only the record; the server then resumes the agent (`nativa.serve.runs`) and records
the outcome with `finish`, `repause` (another candidate needs a person) or `fail`.
"""

from __future__ import annotations

import json
import sqlite3
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from nativa.errors import (
    BadInputError,
    PendingRunConflictError,
    PendingRunExpiredError,
    PendingRunNotFoundError,
)
from nativa.review.approvals import SCOPES, Scope
from nativa.review.findings import Finding
from nativa.review.store import SQLiteReviewStore, migrate

RunStatus = Literal["awaiting_approval", "running", "done", "failed", "expired"]
Decision = Literal["approve", "reject"]
SCHEMA_VERSION = 1  # of `review_pending`, kept in `review_meta` under its own key beside the audit tables
_META_KEY = "pending_schema_version"
_READY: weakref.WeakSet[SQLiteReviewStore] = weakref.WeakSet()
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE review_pending (
            id TEXT PRIMARY KEY, owner TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,
            revision INTEGER NOT NULL, code TEXT NOT NULL, code_hash TEXT NOT NULL, findings TEXT NOT NULL,
            max_risk TEXT NOT NULL, action TEXT NOT NULL, reason TEXT NOT NULL, session TEXT NOT NULL,
            request TEXT NOT NULL, checkpoint TEXT NOT NULL, result TEXT, decision TEXT, scope TEXT,
            decided_by TEXT, feedback TEXT, error TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL,
            expires_at REAL NOT NULL)""",
        "CREATE INDEX review_pending_by_owner ON review_pending (owner, status, created_at)",
    ),
}
_COLUMNS = ("id, owner, kind, status, revision, code, code_hash, findings, max_risk, action, reason, session, "
            "request, checkpoint, result, decision, scope, decided_by, feedback, error, created_at, updated_at, "
            "expires_at")


@dataclass(frozen=True)
class PendingRun:
    """One paused (or resumed) run: what a person is asked about, and what the server needs to go on."""

    id: str
    owner: str  # whose run it is (the API key's digest, "" without keys): others never see it
    kind: str  # "code" (the code agent) | "run" (the tool agent)
    status: RunStatus
    revision: int  # +1 each time the run pauses again for another candidate
    code: str  # the code (or the tool call, as JSON) the person is asked about
    code_hash: str
    findings: tuple[Finding, ...]
    max_risk: str
    action: str  # what approving covers, in words
    reason: str
    session: str  # the review session approvals are scoped to
    created_at: float
    updated_at: float
    expires_at: float
    request: dict[str, Any] = field(default_factory=dict, repr=False)
    checkpoint: dict[str, Any] = field(default_factory=dict, repr=False)
    result: dict[str, Any] | None = field(default=None, repr=False)
    decision: Decision | None = None
    scope: Scope | None = None
    decided_by: str | None = None
    feedback: str | None = None  # a rejection's reason, for the model
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """What `GET /v1/runs/{id}` shows: never the checkpoint (internal) nor the owner."""
        return {"run_id": self.id, "kind": self.kind, "status": self.status, "revision": self.revision,
                "code": self.code, "code_hash": self.code_hash, "findings": [f.to_dict() for f in self.findings],
                "max_risk": self.max_risk, "action": self.action, "reason": self.reason, "session": self.session,
                "created_at": self.created_at, "updated_at": self.updated_at, "expires_at": self.expires_at,
                "decision": self.decision, "scope": self.scope, "decided_by": self.decided_by,
                "feedback": self.feedback, "error": self.error, "result": self.result}


@dataclass(frozen=True)
class Ask:
    """What a paused run asks a person about (the pending candidate or tool call)."""

    code: str
    code_hash: str
    findings: tuple[Finding, ...]
    max_risk: str
    action: str
    reason: str


class PendingRuns:
    """The paused runs in a review database; every change is one transaction, claims are conditional."""

    def __init__(self, store: SQLiteReviewStore, clock: Callable[[], float] | None = None) -> None:
        self.store = store
        self._clock = clock or now
        if store not in _READY:  # once per open store, not per request
            self._migrate()
            _READY.add(store)

    def _migrate(self) -> None:
        with self.store.transaction() as db:
            migrate(db, _META_KEY, _MIGRATIONS, f"the paused-run tables in {self.store.path}")

    # -- reading ---------------------------------------------------------------------------------------
    def get(self, run_id: str, owner: str | None = None) -> PendingRun | None:
        """The run, or None when there is none of that id (for `owner`, when given)."""
        with self.store.transaction() as db:
            self._expire(db)
            row = db.execute(f"SELECT {_COLUMNS} FROM review_pending WHERE id = ?", (run_id,)).fetchone()
        run = _run(row) if row else None
        return run if run is not None and (owner is None or run.owner == owner) else None

    def list_pending(self, owner: str | None = None, *, statuses: Sequence[RunStatus] = ("awaiting_approval",),
                     limit: int = 200) -> list[PendingRun]:
        """Runs in `statuses` (those awaiting a person, by default), oldest first; all owners when None."""
        marks = ", ".join("?" * len(statuses))
        query = f"SELECT {_COLUMNS} FROM review_pending WHERE status IN ({marks})"
        args: list[Any] = list(statuses)
        if owner is not None:
            query += " AND owner = ?"
            args.append(owner)
        with self.store.transaction() as db:
            self._expire(db)
            rows = db.execute(query + " ORDER BY created_at, id LIMIT ?", (*args, limit)).fetchall()
        return [_run(r) for r in rows]

    # -- the life of a paused run ------------------------------------------------------------------------
    def create(self, *, run_id: str, owner: str, kind: str, ask: Ask, session: str, request: dict[str, Any],
               checkpoint: dict[str, Any], ttl_s: float) -> PendingRun:
        """Store a run that just paused; it waits `ttl_s` seconds for a person."""
        now = self._clock()
        with self.store.transaction() as db:
            db.execute(f"INSERT INTO review_pending ({_COLUMNS}) VALUES ({', '.join('?' * 23)})",
                       (run_id, owner, kind, "awaiting_approval", 1, ask.code, ask.code_hash, _findings(ask.findings),
                        ask.max_risk, ask.action, ask.reason, session, json.dumps(request),
                        json.dumps(checkpoint), None, None, None, None, None, None, now, now, now + ttl_s))
        found = self.get(run_id)
        assert found is not None
        return found

    def approve(self, run_id: str, who: str, scope: Scope = "once", *, owner: str | None = None,
                code_hash: str | None = None) -> PendingRun:
        """Claim the run for an approval: it is `running` now, and nobody else can claim it."""
        if scope not in SCOPES:
            raise BadInputError(f"approval scope {scope!r} is invalid; valid: {', '.join(SCOPES)}")
        return self.claim(run_id, "approve", who, owner=owner, scope=scope, code_hash=code_hash)

    def reject(self, run_id: str, who: str, reason: str | None = None, *, owner: str | None = None,
               code_hash: str | None = None) -> PendingRun:
        """Claim the run for a rejection; the agent resumes with `reason` as the model's observation."""
        return self.claim(run_id, "reject", who, owner=owner, feedback=reason, code_hash=code_hash)

    def claim(self, run_id: str, decision: Decision, who: str, *, owner: str | None = None,
              scope: Scope | None = None, feedback: str | None = None, code_hash: str | None = None) -> PendingRun:
        """`awaiting_approval` -> `running`, atomically; the loser of a race gets `PendingRunConflictError`.

        `code_hash`, when given, must be the code the person saw: a run that paused again in the meantime
        (another candidate) is not approved by an answer meant for the previous one."""
        now = self._clock()
        with self.store.transaction() as db:
            self._expire(db)
            row = db.execute(f"SELECT {_COLUMNS} FROM review_pending WHERE id = ?", (run_id,)).fetchone()
            run = _run(row) if row else None
            if run is None or (owner is not None and run.owner != owner):
                raise PendingRunNotFoundError(f"no paused run {run_id!r} for this key; GET /v1/runs lists them")
            if run.status == "expired":
                raise PendingRunExpiredError(f"run {run_id} expired at {_when(run.expires_at)} without an answer; "
                                             "nothing ran: send the request again")
            if run.status != "awaiting_approval":
                raise PendingRunConflictError(f"run {run_id} is {run.status}, not awaiting approval (it was "
                                              f"{_past(run.decision)} by {run.decided_by}): nothing more was run")
            if code_hash is not None and code_hash != run.code_hash:
                raise PendingRunConflictError(f"run {run_id} now asks about other code ({run.code_hash}), not "
                                              f"{code_hash}: GET it and answer for what it shows")
            changed = db.execute(
                "UPDATE review_pending SET status = 'running', decision = ?, scope = ?, decided_by = ?, "
                "feedback = ?, updated_at = ? WHERE id = ? AND status = 'awaiting_approval' AND revision = ?",
                (decision, scope, who, feedback, now, run_id, run.revision)).rowcount
            if changed != 1:  # cannot happen inside BEGIN IMMEDIATE; kept as the guarantee's last line
                raise PendingRunConflictError(f"run {run_id} was claimed by another approval")
        claimed = self.get(run_id)
        assert claimed is not None
        return claimed

    def finish(self, run_id: str, result: dict[str, Any]) -> PendingRun:
        """The resumed run ended: its result is kept for `GET /v1/runs/{id}`."""
        return self._update(run_id, "done", "result = ?, checkpoint = '{}'", (json.dumps(result),))

    def fail(self, run_id: str, error: str) -> PendingRun:
        """The resumed run failed (the model or sandbox failed, the client left): it is not run again."""
        return self._update(run_id, "failed", "error = ?, checkpoint = '{}'", (error[:2000],))

    def repause(self, run_id: str, *, ask: Ask, checkpoint: dict[str, Any], ttl_s: float) -> PendingRun:
        """The resumed run reached another review that needs a person: it waits again (revision + 1)."""
        now = self._clock()
        return self._update(
            run_id, "awaiting_approval",
            "revision = revision + 1, code = ?, code_hash = ?, findings = ?, max_risk = ?, action = ?, reason = ?, "
            "checkpoint = ?, decision = NULL, scope = NULL, decided_by = NULL, feedback = NULL, expires_at = ?",
            (ask.code, ask.code_hash, _findings(ask.findings), ask.max_risk, ask.action, ask.reason,
             json.dumps(checkpoint), now + ttl_s))

    def _update(self, run_id: str, status: RunStatus, assignments: str, args: tuple[Any, ...]) -> PendingRun:
        with self.store.transaction() as db:
            changed = db.execute(f"UPDATE review_pending SET status = ?, {assignments}, updated_at = ? "
                                 "WHERE id = ? AND status = 'running'",
                                 (status, *args, self._clock(), run_id)).rowcount
        if changed != 1:
            raise PendingRunConflictError(f"run {run_id} is not running: only a claimed run can be {status}")
        found = self.get(run_id)
        assert found is not None
        return found

    def _expire(self, db: sqlite3.Connection) -> None:
        at = self._clock()
        db.execute("UPDATE review_pending SET status = 'expired', checkpoint = '{}', updated_at = ? "
                   "WHERE status = 'awaiting_approval' AND expires_at <= ?", (at, at))


def now() -> float:
    """Wall-clock seconds: expiry is a date a person can read (`expires_at`), not a monotonic count."""
    return time.time()


def _findings(findings: Sequence[Finding]) -> str:
    return json.dumps([f.to_dict() for f in findings], ensure_ascii=False)


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))


def _past(decision: str | None) -> str:
    return {"approve": "approved", "reject": "rejected"}.get(decision or "", "answered")


def _run(row: Sequence[Any]) -> PendingRun:
    (run_id, owner, kind, status, revision, code, code_hash, findings, max_risk, action, reason, session, request,
     checkpoint, result, decision, scope, decided_by, feedback, error, created_at, updated_at, expires_at) = row
    return PendingRun(id=run_id, owner=owner, kind=kind, status=status, revision=int(revision), code=code,
                      code_hash=code_hash, findings=tuple(Finding.from_dict(f) for f in json.loads(findings)),
                      max_risk=max_risk, action=action, reason=reason, session=session,
                      created_at=float(created_at), updated_at=float(updated_at), expires_at=float(expires_at),
                      request=json.loads(request), checkpoint=json.loads(checkpoint),
                      result=json.loads(result) if result else None, decision=decision, scope=scope,
                      decided_by=decided_by, feedback=feedback, error=error)
