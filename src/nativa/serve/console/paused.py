"""The console's `PendingRuns` on the server's real pending-run store: the HTTP pause and approve of review
phase 2 (`nativa.serve.runs.PausedRuns`), so a run paused by `/v1/code` or `/v1/run` is the one the
approvals page lists, and approving it there resumes it exactly as `POST /v1/runs/{id}/approve` does.

The console signs in with the server's key (a cookie), not an Authorization header, so the owner is the
key's owner set here; the store's refusals become the console's errors (404 -> `RunNotFoundError`,
409/410 -> `RunNotPendingError`), shown as the error page with the same status.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio.from_thread
from fastapi import Request

from nativa.errors import RunNotFoundError, RunNotPendingError
from nativa.review import pending as stored
from nativa.serve.console.pending import PendingRun, PendingStatus
from nativa.serve.errors import ApiError
from nativa.serve.memory import owner_for_key
from nativa.serve.runs import PausedRuns
from nativa.serve.state import get_state

_SAME: dict[str, PendingStatus] = {"awaiting_approval": "awaiting_approval", "failed": "failed",
                                   "expired": "expired"}
_DECIDED: dict[str | None, PendingStatus] = {"approve": "approved", "reject": "rejected"}


def console_run(record: stored.PendingRun, trace_id: str | None = None) -> PendingRun:
    """A stored paused run as the approvals page shows it."""
    request, result = record.request, record.result or {}
    if record.status == "done":
        status: PendingStatus = "completed"
    elif record.status == "running":
        status = _DECIDED.get(record.decision, "approved")
    else:
        status = _SAME[record.status]
    session = request.get("session")
    return PendingRun(
        id=record.id, kind=record.kind, task=str(request.get("task") or request.get("question") or ""),
        code=record.code, findings=record.findings, session=str(session) if session else None,
        created_at=record.created_at, status=status, subject="code" if record.kind == "code" else _tool(record.code),
        decided_by=record.decided_by, reason=record.feedback, result=record.result,
        trace_id=_text(result.get("trace_id")) or trace_id, code_hash=record.code_hash,
        extra={"revision": record.revision, "action": record.action,
               "expires_at": record.expires_at, "error": record.error})


def _text(value: Any) -> str | None:
    return str(value) if value else None


def _tool(code: str) -> str:
    """"tool:<name>" of a paused tool call (its JSON), "tool" when it names none."""
    try:
        name = json.loads(code).get("tool")
    except (ValueError, AttributeError):
        name = None
    return f"tool:{name}" if isinstance(name, str) and name else "tool"


@contextmanager
def _console_errors() -> Iterator[None]:
    """The HTTP store's refusals as the console's errors."""
    try:
        yield
    except ApiError as exc:
        if exc.status == 404:
            raise RunNotFoundError(exc.message) from None
        if exc.status in (409, 410):
            raise RunNotPendingError(exc.message) from None
        raise


class ConsolePausedRuns:
    """`PendingRuns` for the console over `PausedRuns`, as the server key's owner; used from the sync routes'
    worker threads, so approve and reject hop to the event loop to resume the run on the model's queue."""

    def __init__(self, request: Request) -> None:
        self.paused = PausedRuns(request)
        self.paused.owner = owner_for_key(get_state(request).config.key)

    def list_pending(self) -> list[PendingRun]:
        """The server key's runs waiting for a decision, as the console shows them."""
        return [console_run(r) for r in self.paused.list_pending()]

    def get(self, run_id: str) -> PendingRun | None:
        """One of the server key's paused runs in any status, or None when there is no such run."""
        try:
            return console_run(self.paused.get(run_id))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def approve(self, run_id: str, who: str, code_hash: str | None = None) -> PendingRun:
        """Approve once and resume the run on the model's queue; returns its record after."""
        return self._resume(functools.partial(self.paused.approve, run_id, "once", code_hash, who=who))

    def reject(self, run_id: str, who: str, reason: str, code_hash: str | None = None) -> PendingRun:
        """Reject with `reason` (the model reads it) and resume the run; returns its record after."""
        return self._resume(functools.partial(self.paused.reject, run_id, reason, code_hash, who=who))

    @staticmethod
    def _resume(answer: Callable[[], Awaitable[Any]]) -> PendingRun:
        with _console_errors():
            done = anyio.from_thread.run(answer)
        return console_run(done.record, done.trace_id)


class ServerPendingRuns:
    """What `install` sets as the console's pending-run store: the server's own, opened per request (the
    owner and the model's queue come with the request); a test puts a double in its place."""

    def for_request(self, request: Request) -> ConsolePausedRuns:
        """The store for this request, as the server key's owner (the request brings database and queue)."""
        return ConsolePausedRuns(request)
