"""Pages: the runs list, one run (attempts, diffs, evidence), its live progress as server-sent events, and
traces as a waterfall."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from nativa import tracing
from nativa.errors import ApiError
from nativa.serve.console import sources
from nativa.serve.console.auth import is_number
from nativa.serve.console.runs import (
    KINDS,
    MAX_SESSIONS,
    STATUSES,
    VERIFIED_BY,
    Filters,
    attempt_views,
    find_run,
    list_runs,
)
from nativa.serve.console.views import denied, page, show
from nativa.serve.errors import fault_event, report_fault
from nativa.serve.state import SSE_HEADERS, get_state
from nativa.tracing.store import SpanRecord, TraceStore
from nativa.tracing.view import Note, WaterfallRow, first_cause, span_notes, waterfall

router = APIRouter()


@router.get("/ui")
def home(request: Request) -> Response:
    """The console starts at the runs page."""
    return RedirectResponse("/ui/runs", status_code=303)


@router.get("/ui/runs")
def runs(request: Request, session: str | None = None, status: str | None = None,
         verified_by: str | None = None) -> Response:
    """Live, stored and paused runs in one list, filtered by session, status or evidence."""
    def build() -> Response:
        filters = Filters.parse(session, status, verified_by)
        state = get_state(request)
        memory = sources.memory(request)
        rows = list_runs(state.board, memory, sources.pending(request), filters)
        names = sorted({s.name for s in memory.list_sessions(limit=MAX_SESSIONS)}
                       | {r.session for r in state.board.list() if r.session})
        return page(request, "runs.html", rows=rows, filters=filters, statuses=STATUSES, verified=VERIFIED_BY,
                    sessions=names, kinds=KINDS)

    return show(request, build)


@router.get("/ui/runs/{run_id}")
def run(request: Request, run_id: str) -> Response:
    """One run: its result, attempts and progress events, and its approval if it is paused."""
    def build() -> Response:
        state = get_state(request)
        found = find_run(run_id, state.board, sources.memory(request), sources.pending(request))
        result = found.result or {}
        return page(request, "run.html", run=found.row, result=result, attempts=attempt_views(result),
                    events=found.live.events if found.live else [], pending=found.pending,
                    error=found.live.error if found.live else None)

    return show(request, build)


@router.get("/ui/runs/{run_id}/events")
async def run_events(request: Request, run_id: str) -> Response:
    """The run's progress so far, then live, as server-sent events; the stream ends with `event: end`."""
    refused = denied(request)
    if refused is not None:
        return refused
    board = get_state(request).board
    seen = last_event_id(request.headers.get("last-event-id"))  # a reconnecting browser skips what it has

    async def stream() -> AsyncIterator[bytes]:
        number = 0
        try:
            async for event in board.follow(run_id):
                if event.get("type") == "end":
                    yield f"event: end\ndata: {json.dumps(event, ensure_ascii=False)}\n\n".encode()
                    continue
                number += 1
                if number > seen:
                    yield f"id: {number}\nevent: progress\ndata: {json.dumps(event, ensure_ascii=False)}\n\n".encode()
        except Exception as exc:  # noqa: BLE001 - after the headers, a fault can only be the stream's last event
            yield fault_event(report_fault(exc, f"GET /ui/runs/{run_id}/events"))

    if board.get(run_id) is None:
        return Response("event: end\ndata: {\"type\": \"end\", \"status\": \"unknown\"}\n\n",
                        media_type="text/event-stream", headers=SSE_HEADERS)
    return StreamingResponse(stream(), media_type="text/event-stream", headers=SSE_HEADERS)


MAX_EVENT_ID = 10**9


def last_event_id(raw: str | None) -> int:
    """The `Last-Event-ID` a reconnecting EventSource sends: the `id:` of the last event it got (0: none)."""
    if raw is None or not raw.strip():
        return 0
    value = raw.strip()
    if not is_number(value, 10) or int(value) > MAX_EVENT_ID:
        raise ApiError(400, f"Last-Event-ID: {value[:40]!r} is not an event id of this stream; ids are whole "
                            f"numbers from 1 to {MAX_EVENT_ID} (send none to get the run's events from the start)",
                       param="Last-Event-ID", code="invalid_last_event_id")
    return int(value)


# -- traces ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SpanRow:
    """One waterfall line: the bar's place in percent of the trace, and what to say beside it."""

    span: SpanRecord
    depth: int
    left: float
    width: float
    notes: list[Note]
    highlights: list[tuple[str, str]]
    attributes: list[tuple[str, str]]


_HIGHLIGHTS = (("nativa.sandbox.layers", "sandbox layers"), ("nativa.review.decision", "review"),
               ("nativa.review.max_risk", "max risk"), ("nativa.review.rules", "rules"),
               ("nativa.review.who", "decided by"), ("nativa.memory.recalled", "memories recalled"),
               ("nativa.memory.ids", "memory ids"), ("nativa.memory.scores", "scores"),
               ("nativa.agent.verified_by", "verified by"), ("nativa.agent.verification", "verification"))


def _show(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def span_rows(laid_out: list[WaterfallRow]) -> list[SpanRow]:
    """The waterfall rows as the trace page draws them: bar offset and width in percent, notes, attributes."""
    out = []
    for row in laid_out:
        attrs = row.span.attributes
        highlights = [(label, _show(attrs[key])) for key, label in _HIGHLIGHTS if key in attrs]
        left = min(99.5, row.offset * 100)
        out.append(SpanRow(row.span, row.depth, left, max(0.5, min(100 - left, row.length * 100)),
                           span_notes(row.span, row.echoed), highlights,
                           sorted((k, _show(v)) for k, v in attrs.items())))
    return out


@router.get("/ui/traces")
def traces(request: Request) -> Response:
    """The 100 newest traces in this server's trace directory."""
    def build() -> Response:
        tracing.force_flush(1.0)  # the newest run's spans may still sit in the exporter's buffer
        found = TraceStore(tracing.traces_dir(get_state(request).settings)).recent(100)
        return page(request, "traces.html", traces=found)

    return show(request, build)


@router.get("/ui/traces/{trace_id}")
def trace(request: Request, trace_id: str) -> Response:
    """One trace as a waterfall of its spans, with its deepest failing span as the likely cause."""
    def build() -> Response:
        tracing.force_flush(1.0)
        detail = TraceStore(tracing.traces_dir(get_state(request).settings)).get(trace_id)
        laid_out = waterfall(detail)
        return page(request, "trace.html", summary=detail.summary, rows=span_rows(laid_out),
                    cause=first_cause(laid_out))

    return show(request, build)
