"""Reading traces back from the local JSONL store: list runs, load one trace, latency and error statistics.

Typed results (dataclasses) so the CLI can print them as tables or as JSON without guessing at dict keys.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from nativa.errors import BadInputError
from nativa.tracing.genai import (
    AGENT_NAME,
    INPUT_TOKENS,
    MODEL_OPERATIONS,
    OPERATION,
    OUTPUT_TOKENS,
    REQUEST_MODEL,
    SANDBOX_SPAN,
    TOOL_NAME,
)
from nativa.tracing.jsonl import read_records
from nativa.tracing.stats import percentile

MIN_PREFIX: Final = 6
_HEX = re.compile(r"^[0-9a-f]+$")
_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class SpanRecord:
    """One finished span as stored."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    kind: str
    start_ns: int
    end_ns: int
    status: str
    status_message: str | None
    attributes: Mapping[str, Any]
    events: Sequence[Mapping[str, Any]] = ()

    @property
    def duration_ms(self) -> float:
        """Wall time from the span's start to its end, in milliseconds, as the views show it."""
        return (self.end_ns - self.start_ns) / 1e6

    @property
    def is_error(self) -> bool:
        """Whether the span ended with an error status: the trace views mark it and list its errors."""
        return self.status == "ERROR"

    @property
    def tokens(self) -> tuple[int, int]:
        """(input, output) tokens when this is a model call, else (0, 0), so sums never double count."""
        if self.attributes.get(OPERATION) not in MODEL_OPERATIONS:
            return (0, 0)
        return (_as_int(self.attributes.get(INPUT_TOKENS)), _as_int(self.attributes.get(OUTPUT_TOKENS)))

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> SpanRecord | None:
        """A span from one stored JSON record, or None for one without its ids or times: a foreign line
        in the store is skipped, not an error."""
        try:
            return cls(
                trace_id=str(record["trace_id"]),
                span_id=str(record["span_id"]),
                parent_id=record.get("parent_id"),
                name=str(record.get("name", "?")),
                kind=str(record.get("kind", "INTERNAL")),
                start_ns=int(record["start_ns"]),
                end_ns=int(record["end_ns"]),
                status=str(record.get("status", "UNSET")),
                status_message=record.get("status_message"),
                attributes=dict(record.get("attributes") or {}),
                events=list(record.get("events") or []),
            )
        except (KeyError, TypeError, ValueError):
            return None


def _as_int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


@dataclass(frozen=True)
class TraceSummary:
    """One line of `nativa traces ls`."""

    trace_id: str
    root_name: str
    start_ns: int
    duration_ms: float
    status: str  # "ok" | "error"
    span_count: int
    error_count: int
    input_tokens: int
    output_tokens: int
    complete: bool  # False while the root span has not been written (run still going, or crashed)


@dataclass(frozen=True)
class TraceDetail:
    """A whole trace: its summary and its spans in start order."""

    summary: TraceSummary
    spans: list[SpanRecord]

    def children(self) -> dict[str | None, list[SpanRecord]]:
        """Spans by parent id; spans whose parent is not in the trace hang under None (roots)."""
        ids = {s.span_id for s in self.spans}
        tree: dict[str | None, list[SpanRecord]] = defaultdict(list)
        for s in self.spans:
            tree[s.parent_id if s.parent_id in ids else None].append(s)
        return tree


@dataclass(frozen=True)
class StatsRow:
    """Latency, tokens and error rate of one model, tool, sandbox tier or agent."""

    kind: str  # "model" | "tool" | "sandbox" | "agent"
    name: str
    count: int
    errors: int
    error_rate: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class StatsReport:
    """What `nativa traces stats` shows: the window, how many traces and spans, one row per operation."""

    since_s: float | None
    traces: int
    spans: int
    rows: list[StatsRow] = field(default_factory=list)


def parse_since(text: str) -> float:
    """'90s', '30m', '1h', '7d', '2w' to seconds."""
    match = _SINCE.match(text)
    if not match or float(match.group(1)) <= 0:
        raise BadInputError(
            f"--since {text!r} is not a duration; use a positive number followed by s, m, h, d or w "
            "(e.g. 30m, 1h, 7d)"
        )
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def summarize(trace_id: str, spans: Sequence[SpanRecord]) -> TraceSummary:
    """One trace's line in `nativa traces ls`: its root, duration, errors and tokens; `complete` is
    False when the root span was not (yet) stored."""
    ids = {s.span_id for s in spans}
    roots = sorted(
        (s for s in spans if s.parent_id is None or s.parent_id not in ids), key=lambda s: s.start_ns
    )
    root = roots[0]
    complete = root.parent_id is None
    start = min(s.start_ns for s in spans)
    end = max(s.end_ns for s in spans)
    errors = sum(1 for s in spans if s.is_error)
    tokens_in = sum(s.tokens[0] for s in spans)
    tokens_out = sum(s.tokens[1] for s in spans)
    return TraceSummary(
        trace_id=trace_id,
        root_name=root.name,
        start_ns=start,
        duration_ms=root.duration_ms if complete else (end - start) / 1e6,
        status="error" if errors else "ok",
        span_count=len(spans),
        error_count=errors,
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        complete=complete,
    )


class TraceStore:
    """The JSONL store of one data dir, read fresh on each call (another process may be writing it)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def spans(self) -> list[SpanRecord]:
        """Every span in the store, oldest file first, once each (a span exported twice appears once)."""
        seen: set[tuple[str, str]] = set()
        out: list[SpanRecord] = []
        for record in read_records(self.directory):
            span = SpanRecord.from_record(record)
            if span is None or (span.trace_id, span.span_id) in seen:
                continue
            seen.add((span.trace_id, span.span_id))
            out.append(span)
        return out

    def _by_trace(self, spans: Iterable[SpanRecord] | None = None) -> dict[str, list[SpanRecord]]:
        grouped: dict[str, list[SpanRecord]] = defaultdict(list)
        for s in self.spans() if spans is None else spans:
            grouped[s.trace_id].append(s)
        return grouped

    def recent(self, limit: int | None = None) -> list[TraceSummary]:
        """Traces newest first."""
        summaries = [summarize(tid, spans) for tid, spans in self._by_trace().items()]
        summaries.sort(key=lambda t: t.start_ns, reverse=True)
        return summaries if limit is None else summaries[:limit]

    def get(self, trace_id: str) -> TraceDetail:
        """One trace by its id or a unique prefix of at least six hex digits."""
        wanted = trace_id.strip().lower()
        if not _HEX.match(wanted) or len(wanted) > 32 or len(wanted) < MIN_PREFIX:
            raise BadInputError(
                f"trace id {trace_id!r} is not valid: expected 32 hexadecimal characters "
                f"(or a unique prefix of at least {MIN_PREFIX}), as printed by `nativa traces ls`"
            )
        grouped = self._by_trace()
        matches = [tid for tid in grouped if tid.startswith(wanted)]
        if not matches:
            raise BadInputError(
                f"no trace with id {trace_id!r} in {self.directory}; `nativa traces ls` lists the "
                f"{len(grouped)} stored trace(s)"
            )
        if len(matches) > 1:
            raise BadInputError(
                f"trace id prefix {trace_id!r} matches {len(matches)} traces "
                f"({', '.join(sorted(matches)[:3])}, ...); "
                "give more characters"
            )
        spans = sorted(grouped[matches[0]], key=lambda s: (s.start_ns, s.end_ns))
        return TraceDetail(summary=summarize(matches[0], spans), spans=spans)

    def stats(self, since_s: float | None = None, now_ns: int | None = None) -> StatsReport:
        """p50/p95/p99 latency, tokens and error rate per model, tool, sandbox tier and agent."""
        spans = self.spans()
        if since_s is not None:
            cutoff = (now_ns if now_ns is not None else time.time_ns()) - int(since_s * 1e9)
            spans = [s for s in spans if s.start_ns >= cutoff]
        groups: dict[tuple[str, str], list[SpanRecord]] = defaultdict(list)
        for s in spans:
            key = _stats_key(s)
            if key is not None:
                groups[key].append(s)
        rows = []
        order = {"agent": 0, "model": 1, "tool": 2, "sandbox": 3}
        for (kind, name), members in sorted(groups.items(), key=lambda kv: (order[kv[0][0]], kv[0][1])):
            durations = sorted(s.duration_ms for s in members)
            errors = sum(1 for s in members if s.is_error)
            rows.append(
                StatsRow(
                    kind=kind,
                    name=name,
                    count=len(members),
                    errors=errors,
                    error_rate=errors / len(members),
                    p50_ms=percentile(durations, 50, empty=0.0),
                    p95_ms=percentile(durations, 95, empty=0.0),
                    p99_ms=percentile(durations, 99, empty=0.0),
                    input_tokens=sum(s.tokens[0] for s in members),
                    output_tokens=sum(s.tokens[1] for s in members),
                )
            )
        return StatsReport(
            since_s=since_s, traces=len({s.trace_id for s in spans}), spans=len(spans), rows=rows
        )


def _stats_key(span: SpanRecord) -> tuple[str, str] | None:
    attrs = span.attributes
    operation = attrs.get(OPERATION)
    if operation in MODEL_OPERATIONS:
        return ("model", str(attrs.get(REQUEST_MODEL, "?")))
    if operation == "execute_tool":
        return ("tool", str(attrs.get(TOOL_NAME, "?")))
    if operation == "invoke_agent":
        return ("agent", str(attrs.get(AGENT_NAME, "?")))
    if span.name == SANDBOX_SPAN:
        return ("sandbox", str(attrs.get("nativa.sandbox.tier", "?")))
    return None
