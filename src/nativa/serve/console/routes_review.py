"""Pages: runs waiting for review (the code with each finding on its line), approve or reject with a reason,
and the review audit log with its hash chain verified."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from nativa.errors import BadInputError, RunNotPendingError
from nativa.review.findings import Finding, risk_rank
from nativa.serve.console import sources
from nativa.serve.console.pending import PendingRun, PendingRuns
from nativa.serve.console.views import HEADERS, page, show, submit, who

router = APIRouter()
MAX_REASON = 2000
AUDIT_SHOWN = 200


@dataclass(frozen=True)
class CodeLine:
    """A line of the code under review, with the findings the policy put on it."""

    number: int
    text: str
    findings: tuple[Finding, ...]

    @property
    def risk(self) -> str:
        """The line's highest finding risk ("none" without any), for its highlight."""
        return max((f.risk for f in self.findings), key=risk_rank, default="none")


def code_lines(code: str, findings: tuple[Finding, ...]) -> tuple[list[CodeLine], list[Finding]]:
    """Each line with its findings, and the findings that name no line of the code (shown above it)."""
    lines = code.splitlines() or [""]
    by_line: dict[int, list[Finding]] = {}
    loose: list[Finding] = []
    for f in findings:
        if 1 <= f.line <= len(lines):
            by_line.setdefault(f.line, []).append(f)
        else:
            loose.append(f)
    return [CodeLine(i, text, tuple(by_line.get(i, ()))) for i, text in enumerate(lines, 1)], loose


def _store(request: Request) -> PendingRuns:
    store = sources.pending(request)
    if store is None:
        raise RunNotPendingError("this server keeps no runs for review (no pending-run store is attached), so "
                                 "there is nothing to approve")
    return store


def _pending(store: PendingRuns, run_id: str) -> PendingRun:
    found = store.get(run_id)
    if found is None:
        from nativa.errors import RunNotFoundError

        raise RunNotFoundError(f"no run {run_id!r} is known to the review store; the approvals page lists them")
    return found


@router.get("/ui/approvals")
def approvals(request: Request) -> Response:
    """Runs waiting for a decision, and the newest entries of the audit log with its integrity check."""
    def build() -> Response:
        store = sources.pending(request)
        log = sources.audit(request)
        entries = log.entries()
        return page(request, "approvals.html", enabled=store is not None,
                    waiting=store.list_pending() if store is not None else [],
                    entries=list(reversed(entries))[:AUDIT_SHOWN], total=len(entries), report=log.verify())

    return show(request, build)


@router.get("/ui/approvals/{run_id}")
def approval(request: Request, run_id: str) -> Response:
    """One paused run: its code line by line with the policy's findings, and the forms to decide."""
    def build() -> Response:
        run = _pending(_store(request), run_id)
        lines, loose = code_lines(run.code, run.findings)
        return page(request, "approval.html", run=run, lines=lines, loose=loose, max_reason=MAX_REASON)

    return show(request, build)


@router.post("/ui/approvals/{run_id}/approve")
def approve(request: Request, run_id: str, csrf: str | None = Form(None),
            code_hash: str | None = Form(None)) -> Response:
    """Approve the code once; the run resumes, and the browser goes back to the run's approval page."""
    def build() -> Response:
        _store(request).approve(run_id, who(request), code_hash or None)
        return RedirectResponse(f"/ui/approvals/{run_id}", status_code=303, headers=HEADERS)

    return submit(request, csrf, build)


@router.post("/ui/approvals/{run_id}/reject")
def reject(request: Request, run_id: str, csrf: str | None = Form(None), reason: str | None = Form(None),
           code_hash: str | None = Form(None)) -> Response:
    """Reject with a reason (required; the model reads it) and resume the run."""
    def build() -> Response:
        text = (reason or "").strip()
        if not text or len(text) > MAX_REASON:
            raise BadInputError(f"reason: say why in 1 to {MAX_REASON} characters; the model reads it and "
                                "writes a safer version")
        _store(request).reject(run_id, who(request), text, code_hash or None)
        return RedirectResponse(f"/ui/approvals/{run_id}", status_code=303, headers=HEADERS)

    return submit(request, csrf, build)
