"""Where the console's pages read from: the server's memory (as the key's owner sees it), the pending-run
store, and the review audit log; each opened once per app, on first use."""

from __future__ import annotations

import threading

from fastapi import Request

from nativa.memory import Memory
from nativa.review.audit import AuditLog
from nativa.serve.console.paused import ServerPendingRuns
from nativa.serve.console.pending import PendingRuns
from nativa.serve.errors import ApiError
from nativa.serve.memory import memory_for, owner_for_key
from nativa.serve.state import get_state

PENDING_ATTR = "nativa_pending"  # app.state attribute holding the PendingRuns store (or ServerPendingRuns)
_audit_lock = threading.Lock()


def memory(request: Request) -> Memory:
    """The memory the HTTP API gives this server's key (or "" without a key): the console signs in with it."""
    return memory_for(request, owner=owner_for_key(get_state(request).config.key))


def pending(request: Request) -> PendingRuns | None:
    """The store of runs paused for review, or None when the server can keep none (the page then says so).

    The one place the console meets that store: every page (approvals, the runs list, a paused run's page)
    asks here. It is the server's own pending-run store, the one `/v1/runs/{id}/approve|reject` answer from,
    seen as the server key's owner (`install` sets it on `app.state.nativa_pending`, where a test may put a
    double instead, or remove it to see the page without one)."""
    found = getattr(request.app.state, PENDING_ATTR, None)
    if isinstance(found, ServerPendingRuns):
        try:
            return found.for_request(request)
        except ApiError:  # the review database cannot be opened: the runs list still works, approvals say so
            return None
    return found if isinstance(found, PendingRuns) else None


def audit(request: Request) -> AuditLog:
    """The review audit log in the review database (`NATIVA_REVIEW_DB`, default `<home>/nativa.db`)."""
    app = request.app
    log: AuditLog | None = getattr(app.state, "nativa_console_audit", None)
    if log is None:
        # The review tables live in the memory store's file by default, and the memory store refuses a file
        # it did not create: open (create) it first, so the review store only adds its tables.
        memory(request)
        with _audit_lock:
            log = getattr(app.state, "nativa_console_audit", None)
            if log is None:  # the server's review store: the one the HTTP pauses and answers write to
                from nativa.serve.review import review_store

                log = AuditLog(review_store(request))
                app.state.nativa_console_audit = log
    return log
