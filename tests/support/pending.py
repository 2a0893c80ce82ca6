"""A pending-run store for tests only (the real one, HTTP pause/approve, is issue 17's): runs paused for
review, resumed exactly once on approve by running their code through a given sandbox, each decision
written to a real audit log. It keeps the `PendingRuns` contract the console is built against."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import replace
from typing import Any

from nativa.errors import RunNotPendingError
from nativa.review import Policy, ReviewContext, code_hash
from nativa.review.audit import AuditLog
from nativa.serve.console.pending import PendingRun


class ScriptedPendingRuns:
    """Holds runs as if the agent had paused them; `approve` runs the code once and keeps the result."""

    def __init__(self, sandbox: Any, audit: AuditLog, policy: Policy | None = None) -> None:
        self.sandbox = sandbox
        self.audit = audit
        self.policy = policy or Policy.load()
        self.runs: dict[str, PendingRun] = {}
        self.completions: dict[str, int] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def pause(self, task: str, code: str, *, session: str = "default", kind: str = "code") -> PendingRun:
        verdict = self.policy.check_code(code, ReviewContext(session=session))
        run = PendingRun(id=f"r{next(self._ids)}", kind=kind, task=task, code=code, findings=verdict.findings,
                         session=session, created_at=time.time())
        with self._lock:
            self.runs[run.id] = run
        return run

    def list_pending(self) -> list[PendingRun]:
        with self._lock:
            return [r for r in self.runs.values() if r.status == "awaiting_approval"]

    def get(self, run_id: str) -> PendingRun | None:
        with self._lock:
            return self.runs.get(run_id)

    def _decide(self, run_id: str, status: str, who: str, reason: str | None) -> PendingRun:
        with self._lock:  # one decision per run, however many requests race for it
            run = self.runs.get(run_id)
            if run is None or run.status != "awaiting_approval":
                state = "unknown" if run is None else f"already {run.status}"
                raise RunNotPendingError(f"run {run_id!r} is not waiting for approval ({state})")
            decided = replace(run, status=status, decided_by=who, reason=reason)  # type: ignore[arg-type]
            self.runs[run_id] = decided
        self.audit.record(who=who, session=run.session or "default", subject=run.subject, scope="once",
                          code_hash=code_hash(run.code), verdict=status,
                          approved=status == "approved", max_risk=run.max_risk, findings=run.findings,
                          reason=reason or f"approved by {who} in the console")
        return decided

    def approve(self, run_id: str, who: str, code_hash: str | None = None) -> PendingRun:
        self._decide(run_id, "approved", who, None)
        result = self.sandbox.run(self.runs[run_id].code, timeout_s=10)
        with self._lock:
            self.completions[run_id] = self.completions.get(run_id, 0) + 1
            done = replace(self.runs[run_id], status="completed",
                           result={"success": bool(result.ok), "code": self.runs[run_id].code,
                                   "stdout": result.stdout, "verified_by": "ran_only"})
            self.runs[run_id] = done
        return done

    def reject(self, run_id: str, who: str, reason: str, code_hash: str | None = None) -> PendingRun:
        return self._decide(run_id, "rejected", who, reason)
