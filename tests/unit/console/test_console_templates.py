"""Every template rendered on its own with hostile strings in every field a model, a tool or a user fills:
the markup must come out as text. The last test fails when a template is added without a case here."""

from __future__ import annotations

import importlib.resources
from typing import Any

import pytest

from nativa.memory.types import MemoryItem, Recall, Session, StoredMessage
from nativa.review.audit import AuditEntry, ChainProblem, ChainReport
from nativa.review.findings import Finding
from nativa.serve.console.pending import PendingRun
from nativa.serve.console.routes_review import code_lines
from nativa.serve.console.routes_runs import SpanRow
from nativa.serve.console.runs import CandidateView, Filters, RunRow, attempt_views
from nativa.serve.console.views import render
from nativa.tracing.store import SpanRecord, TraceSummary
from nativa.tracing.view import Note

X = '<script>alert("x")</script><img src=x onerror=alert(1)>"\'&{{7*7}}'
ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;&#34;&#39;&amp;{{7*7}}"
BASE = {"csrf": "tok", "signed_in": True, "auth_on": True, "path": "/ui/runs"}


def _row(**over: Any) -> RunRow:
    values: dict[str, Any] = {"id": "live-1", "kind": "code", "task": X, "session": X, "status": "passed",
                              "verified_by": "user_tests", "started_at": 1.7e9, "duration_s": 1.5,
                              "output_tokens": 3, "attempts": 2, "trace_id": "ab" * 16}
    return RunRow(**(values | over))


def _result() -> dict[str, Any]:
    attempt = {"number": 1, "strategy": "generate", "outcome": "failed", "code": X, "error_type": X,
               "error_message": X, "observation": X, "stdout": X, "killed_by": X, "wrote_tests": X, "kept_code": X + "1",
               "candidates": [{"outcome": X, "code": X, "error_type": X, "error_message": X}]}
    return {"success": True, "code": X, "verified_by": X, "verification": X, "stop_reason": X, "stdout": X, "tests": X,
            "generated_tests": X, "checks": [X], "attempts": [attempt, {**attempt, "number": 2, "code": X + "\nmore"}],
            "answer": X, "clarification": X, "steps": [{"tool": X, "arguments": {"q": X}, "observation": X,
                                                        "error": X}], "reply": X, "finish_reason": X}


def _memory() -> MemoryItem:
    return MemoryItem(7, X, X, X, {"k": X}, 1.7e9, None)


def _span() -> SpanRecord:
    return SpanRecord("ab" * 16, "cd" * 8, None, X, "INTERNAL", 0, 10, "ERROR", X, {X: X, "nativa.review.decision": X},
                      [{"name": X, "attributes": {X: X}}])


def _pending() -> PendingRun:
    return PendingRun(id=X, kind="code", task=X, code=f"{X}\nline2", session=X, findings=(Finding(X, "high", 1, X, X),
                      Finding(X, "low", 0, X)), decided_by=X, reason=X, result={"success": False, "code": X,
                                                                                  "stdout": X, "answer": X})


def _entry() -> AuditEntry:
    return AuditEntry(1, X, X, X, X, X, X, X, False, "high", (), X, "sha256:" + "0" * 64, "sha256:" + "1" * 64)


CASES: dict[str, list[dict[str, Any]]] = {
    "error.html": [{"status_code": 400, "message": X}],
    "login.html": [{"next": X, "failed": True}],
    "runs.html": [{"rows": [_row(), _row(status="awaiting_approval", id="p-" + X), _row(status="running")],
                   "filters": Filters(X, "passed", None), "statuses": ("passed",), "verified": ("user_tests",),
                   "sessions": [X], "kinds": ("code",)}],
    "run.html": [{"run": _row(kind=kind, status=status), "result": _result(), "attempts": attempt_views(_result()),
                  "events": [{"type": "attempt", "number": X, "phase": X, "outcome": X}, {"type": X, "tool": X}],
                  "pending": _pending(), "error": X}
                 for kind, status in (("code", "running"), ("run", "passed"), ("chat", "passed"))]
    + [{"run": _row(kind="code", status="awaiting_approval"), "result": {}, "attempts": [], "events": [],
        "pending": _pending(), "error": None}],
    "traces.html": [{"traces": [TraceSummary(X, X, 0, 1.0, "error", 1, 1, 0, 0, False)]}],
    "trace.html": [{"summary": TraceSummary("ab" * 16, X, 0, 1.0, "error", 1, 1, 2, 3, False),
                    "rows": [SpanRow(_span(), 3, 10.0, 20.0, [Note("error", X)], [(X, X)], [(X, X)])],
                    "cause": _span()}],
    "memory.html": [{"sessions": [Session(1, X, "", 1.7e9, 1.7e9, 2)], "query": X, "namespace": X, "k": 5,
                     "hits": [Recall(_memory(), 0.5)], "recent": [_memory()]},
                    {"sessions": [], "query": X, "namespace": X, "k": 5, "hits": [], "recent": []}],
    "session.html": [{"session": Session(1, X, "", 1.7e9, 1.7e9, 2), "messages": [StoredMessage(1, 1, "user", X, 3, 1.7e9)],
                      "runs": [_row()], "memories": [_memory()]}],
    "forget.html": [{"item": _memory(), "session": None, "removed": None},
                    {"item": None, "session": Session(1, X, "", 1.7e9, 1.7e9, 2), "removed": None},
                    {"item": None, "session": None, "removed": 3, "location": X}],
    "approvals.html": [{"enabled": True, "waiting": [_pending()], "entries": [_entry()], "total": 9,
                        "report": ChainReport(False, 1, (ChainProblem(1, "edited", X),))},
                       {"enabled": False, "waiting": [], "entries": [], "total": 0, "report": ChainReport(True, 0),
                        "empty": True}],
    "approval.html": [{"run": p, "lines": code_lines(p.code, p.findings)[0], "loose": code_lines(p.code, p.findings)[1],
                       "max_reason": 10}
                      for p in (_pending(), PendingRun(id=X, kind="code", task=X, code=X, findings=(
                          Finding(X, "medium", 1, X, X),)))],
}


@pytest.mark.parametrize(("template", "context"), [(t, c) for t, cs in CASES.items() for c in cs],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_template_escapes_hostile_strings(template: str, context: dict[str, Any]) -> None:
    html = render(template, **(BASE | context))
    assert "<script>alert" not in html and "<img src=x" not in html and "onerror=alert(1)>" not in html
    if not context.get("empty"):
        assert ESCAPED in html or "\\u003cscript\\u003e" in html, "the hostile text should still be shown, as text"
    assert "<script" not in html.replace('<script src="/ui/static/console.js" defer></script>', "")
    assert " style=" not in html and "javascript:" not in html  # the CSP allows no inline style or script


def test_every_template_has_a_case() -> None:
    shipped = {p.name for p in importlib.resources.files("nativa.serve.console").joinpath("templates").iterdir()
               if p.name.endswith(".html") and not p.name.startswith("_")}
    assert shipped == set(CASES)


def test_candidates_and_diffs_come_from_the_result() -> None:
    views = attempt_views(_result())
    assert views[0].diff is None and views[1].diff_against == 1
    assert [d.kind for d in views[1].diff or []][-1] == "add" and views[1].diff[-1].text == "+more"  # type: ignore[index]
    assert views[0].candidates == [CandidateView(X, 0, 0, 0, f"{X}: {X}", 0, X)]
    assert views[0].kept_differs
