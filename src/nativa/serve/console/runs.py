"""The runs the console lists and shows, from wherever they are kept, as typed views for the templates.

Three sources: the board (runs this process is executing or executed: every route, session or not), the
session store (runs recorded in a session: they survive restarts), and the pending-run store (runs paused for
review). A run that is on the board and in a session shows once, as the board's (it has the progress).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, get_args
from urllib.parse import quote

from nativa.agent.result import VerifiedBy
from nativa.errors import BadInputError, RunNotFoundError
from nativa.memory import AgentRun, Memory, Session
from nativa.serve.console.auth import is_number
from nativa.serve.console.board import LiveRun, RunBoard, status_of
from nativa.serve.console.pending import PendingRun, PendingRuns

STATUSES: Final = ("running", "passed", "failed", "error", "awaiting_approval")
VERIFIED_BY: Final[tuple[str, ...]] = get_args(VerifiedBy)
KINDS: Final = ("code", "run", "chat")
_STORED = "s-"
_PENDING = "p-"
MAX_SESSIONS: Final = 200  # sessions read for the runs list (newest first)


@dataclass(frozen=True)
class RunRow:
    """One line of the runs list."""

    id: str
    kind: str
    task: str
    session: str | None
    status: str
    verified_by: str | None
    started_at: float
    duration_s: float | None
    output_tokens: int
    attempts: int
    trace_id: str | None

    @property
    def href(self) -> str:
        """Its page: the approval page while it waits for review, else the run page."""
        if self.status == "awaiting_approval" and self.id.startswith(_PENDING):
            return "/ui/approvals/" + quote(self.id[len(_PENDING):], safe="")
        return "/ui/runs/" + quote(self.id, safe="")


@dataclass(frozen=True)
class Filters:
    """The runs list's filters, checked: an unknown value is a `BadInputError` naming the valid ones."""

    session: str | None = None
    status: str | None = None
    verified_by: str | None = None

    @classmethod
    def parse(cls, session: str | None, status: str | None, verified_by: str | None) -> Filters:
        """The query's filters, checked (a bad status or evidence name is a 400 that lists the valid ones)."""
        if status and status not in STATUSES:
            raise BadInputError(f"status {status!r} is not a run status; valid: {', '.join(STATUSES)}")
        if verified_by and verified_by not in VERIFIED_BY:
            raise BadInputError(f"verified_by {verified_by!r} is not valid; valid: {', '.join(VERIFIED_BY)}")
        if session is not None and len(session) > 200:
            raise BadInputError("session: a session name has at most 200 characters")
        return cls(session or None, status or None, verified_by or None)

    def keep(self, row: RunRow) -> bool:
        """Whether the row matches every filter that is set."""
        return ((self.session is None or row.session == self.session)
                and (self.status is None or row.status == self.status)
                and (self.verified_by is None or row.verified_by == self.verified_by))


def _numbers(kind: str, result: dict[str, Any] | None) -> tuple[str | None, float | None, int, int]:
    """verified_by, wall time, output tokens and attempts (steps for the tool agent) of a result."""
    if not result:
        return None, None, 0, 0
    wall = result.get("wall_s", result.get("latency_s"))
    count = len(result.get("attempts") or result.get("steps") or [])
    verified = result.get("verified_by") if kind == "code" else None
    return (str(verified) if verified else None, float(wall) if isinstance(wall, int | float) else None,
            _int(result.get("output_tokens")), count)


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def live_row(run: LiveRun) -> RunRow:
    """A board run as a list row; while it runs, its count is the attempts (or steps) so far."""
    verified, wall, tokens, count = _numbers(run.kind, run.result)
    if run.running:
        count = len({e.get("number") for e in run.events if e.get("type") == "attempt"}) or \
            sum(1 for e in run.events if e.get("type") == "step")
    duration = wall if wall is not None else ((run.ended_at or 0) - run.started_at if run.ended_at else None)
    return RunRow(run.id, run.kind, run.task, run.session, run.status, verified, run.started_at, duration, tokens,
                  count, run.trace_id)


def stored_row(run: AgentRun, session: Session) -> RunRow:
    """A run kept in a session store as a list row."""
    verified, wall, tokens, count = _numbers(run.kind, run.result)
    return RunRow(f"{_STORED}{run.id}", run.kind, run.task, session.name, status_of(run.kind, run.result), verified,
                  run.created_at, wall, tokens, count, run.trace_id)


def pending_row(run: PendingRun) -> RunRow:
    """A paused run's record as a list row; a rejected, expired or failed one without a result
    counts as failed."""
    status = "awaiting_approval" if run.status == "awaiting_approval" else (
        status_of("code" if run.kind == "code" else "run", run.result) if run.result else
        ("failed" if run.status in ("rejected", "expired", "failed") else "running"))
    verified, wall, tokens, count = _numbers(run.kind, run.result)
    return RunRow(f"{_PENDING}{run.id}", run.kind, run.task, run.session, status, verified, run.created_at, wall,
                  tokens, count, run.trace_id)


def _stored(memory: Memory | None, sessions: Sequence[Session] | None = None) -> Iterable[tuple[AgentRun, Session]]:
    if memory is None:
        return
    for session in sessions if sessions is not None else memory.list_sessions(limit=MAX_SESSIONS):
        for run in memory.runs(session):
            yield run, session


def list_runs(board: RunBoard, memory: Memory | None, pending: PendingRuns | None, filters: Filters,
              limit: int = 200) -> list[RunRow]:
    """Every run the three sources know, newest first, deduplicated by trace, filtered."""
    rows = [live_row(r) for r in board.list()]
    seen = {r.trace_id for r in rows if r.trace_id}
    if pending is not None:
        for p in pending.list_pending():
            row = pending_row(p)
            if not row.trace_id or row.trace_id not in seen:
                rows.append(row)
                seen.add(row.trace_id)
    sessions = None
    if memory is not None and filters.session is not None:
        sessions = [s for s in memory.list_sessions(limit=MAX_SESSIONS) if s.name == filters.session]
    for run, session in _stored(memory, sessions):
        if run.trace_id and run.trace_id in seen:
            continue
        rows.append(stored_row(run, session))
    rows.sort(key=lambda r: r.started_at, reverse=True)
    return [r for r in rows if filters.keep(r)][:limit]


@dataclass(frozen=True)
class FoundRun:
    """A run found by its console id, with whatever its source keeps."""

    row: RunRow
    result: dict[str, Any] | None
    live: LiveRun | None = None
    pending: PendingRun | None = None


def find_run(run_id: str, board: RunBoard, memory: Memory | None, pending: PendingRuns | None) -> FoundRun:
    """The run with this console id; `BadInputError` (404 on the page) when no source has it."""
    live = board.get(run_id)
    if live is not None:
        return FoundRun(live_row(live), live.result, live=live)
    if run_id.startswith(_PENDING) and pending is not None:
        found = pending.get(run_id[len(_PENDING):])
        if found is not None:
            return FoundRun(pending_row(found), found.result, pending=found)
    if run_id.startswith(_STORED) and is_number(run_id[len(_STORED):], 19):
        wanted = int(run_id[len(_STORED):])
        for run, session in _stored(memory):
            if run.id == wanted:
                return FoundRun(stored_row(run, session), run.result)
    raise RunNotFoundError(f"no run {run_id!r} here; the runs page lists the ones this server knows")


# -- one run, for its page ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class DiffLine:
    """One line of the change from one attempt's code to the next, as the run page colours it."""
    kind: str  # "add" | "del" | "ctx" | "hunk"
    text: str


@dataclass(frozen=True)
class CandidateView:
    """One candidate of an attempt as the run page shows it: outcome, test counts, score, code."""
    outcome: str
    passed_tests: int
    failed_tests: int
    score: int
    error: str | None
    output_tokens: int
    code: str | None


@dataclass(frozen=True)
class AttemptView:
    """One attempt as the run page shows it: its code and the change from the attempt before, the verdict
    and its evidence, and the observation the model read next."""

    number: int
    strategy: str
    outcome: str
    code: str | None
    diff: list[DiffLine] | None  # None for the first attempt with code
    diff_against: int | None
    error: str | None
    killed_by: str | None
    failed_checks: int | None
    observation: str | None
    stdout: str
    input_tokens: int
    output_tokens: int
    model_s: float
    sandbox_s: float
    duration_s: float
    kept_code: str | None
    kept_differs: bool
    wrote_tests: str | None
    drafts: int
    candidates: list[CandidateView] = field(default_factory=list)


def diff_lines(before: str, after: str) -> list[DiffLine]:
    """A unified diff of two attempts' code, line by line, for display (no file headers)."""
    out: list[DiffLine] = []
    for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=3):
        if line.startswith(("---", "+++")) and not out:
            continue
        kind = "hunk" if line.startswith("@@") else "add" if line.startswith("+") else \
            "del" if line.startswith("-") else "ctx"
        out.append(DiffLine(kind, line))
    return out


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _float(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _error(item: dict[str, Any]) -> str | None:
    kind, message = item.get("error_type"), item.get("error_message")
    if not kind and not message:
        return None
    return f"{kind}: {message}" if kind and message else str(kind or message)


def attempt_views(result: dict[str, Any]) -> list[AttemptView]:
    """The attempts of an `AgentResult.to_dict()`, each diffed against the last earlier attempt with code."""
    views: list[AttemptView] = []
    previous: tuple[int, str] | None = None
    for raw in result.get("attempts") or []:
        if not isinstance(raw, dict):
            continue
        code = _text(raw.get("code"))
        number = _int(raw.get("number"))
        diff = diff_lines(previous[1], code) if code is not None and previous is not None else None
        against = previous[0] if diff is not None and previous is not None else None
        kept = _text(raw.get("kept_code"))
        candidates = [CandidateView(str(c.get("outcome", "?")), _int(c.get("passed_tests")), _int(c.get("failed_tests")),
                                    _int(c.get("score")), _error(c), _int(c.get("output_tokens")), _text(c.get("code")))
                      for c in raw.get("candidates") or [] if isinstance(c, dict)]
        failed = raw.get("failed_checks")
        views.append(AttemptView(
            number=number, strategy=str(raw.get("strategy", "?")), outcome=str(raw.get("outcome", "?")), code=code,
            diff=diff, diff_against=against, error=_error(raw), killed_by=_text(raw.get("killed_by")),
            failed_checks=failed if isinstance(failed, int) else None, observation=_text(raw.get("observation")),
            stdout=str(raw.get("stdout") or ""), input_tokens=_int(raw.get("input_tokens")),
            output_tokens=_int(raw.get("output_tokens")), model_s=_float(raw.get("model_s")),
            sandbox_s=_float(raw.get("sandbox_s")), duration_s=_float(raw.get("duration_s")), kept_code=kept,
            kept_differs=kept is not None and kept != code, wrote_tests=_text(raw.get("wrote_tests")),
            drafts=_int(raw.get("drafts")), candidates=candidates))
        if code is not None:
            previous = (number, code)
    return views
