"""Terminal views of stored traces: a waterfall tree for one trace, tables for the list and the statistics.

The tree pads each name by its depth so durations and bars line up in columns: a waterfall is read by
comparing bars, which only works when they start at the same column.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from nativa.tracing.genai import SANDBOX_PREFIX, TTFC
from nativa.tracing.store import SpanRecord, StatsReport, TraceDetail, TraceSummary

BAR_WIDTH: Final = 32
_INDENT: Final = 4  # columns rich's tree guides take per level
_MAX_NAME: Final = 56


def format_ms(ms: float) -> str:
    """A duration in the unit that reads best: µs, ms or s."""
    if ms < 1:
        return f"{ms * 1000:.0f} µs"
    if ms < 1000:
        return f"{ms:.1f} ms"
    return f"{ms / 1000:.2f} s"


def format_window(seconds: float) -> str:
    """3600 -> '1 h', 5400 -> '1.5 h', 90 -> '1.5 m': how `--since` windows read back."""
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


def format_time(ns: int) -> str:
    """A span's start time in local time, to the second."""
    return dt.datetime.fromtimestamp(ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")


def _short_time(ns: int) -> str:
    moment = dt.datetime.fromtimestamp(ns / 1e9)
    return moment.strftime("%H:%M:%S" if moment.date() == dt.date.today() else "%m-%d %H:%M")


@dataclass(frozen=True)
class WaterfallRow:
    """One span laid out on the trace's time axis: where its bar starts and how long it is, as fractions of
    the whole trace, so the terminal (in columns) and the console (in percent) draw the same waterfall."""

    span: SpanRecord
    depth: int  # 1 for a root
    offset: float  # start, as a fraction of the trace's duration
    length: float  # duration, as a fraction of the trace's duration
    echoed: bool  # the same error came up from a child: say it once, where it started


@dataclass(frozen=True)
class Note:
    """One detail shown after a span's bar; `kind` picks its colour (tokens, sandbox, error, ...)."""

    kind: str  # "tokens" | "dim" | "sandbox" | "killed" | "error" | "echo"
    text: str


def waterfall(detail: TraceDetail) -> list[WaterfallRow]:
    """The spans depth first, children in start order, each with its depth and place on the time axis."""
    children = detail.children()
    t0 = min(s.start_ns for s in detail.spans)
    total = max(max(s.end_ns for s in detail.spans) - t0, 1)
    rows: list[WaterfallRow] = []

    def add(span: SpanRecord, depth: int) -> None:
        kids = sorted(children.get(span.span_id, []), key=lambda s: s.start_ns)
        echoed = any(k.is_error and k.status_message == span.status_message for k in kids)
        rows.append(WaterfallRow(span, depth, (span.start_ns - t0) / total, (span.end_ns - span.start_ns) / total,
                                 echoed))
        for c in kids:
            add(c, depth + 1)

    for root in sorted(children[None], key=lambda s: s.start_ns):
        add(root, 1)
    return rows


def first_cause(rows: list[WaterfallRow]) -> SpanRecord | None:
    """The deepest failing span: usually the cause of the errors above it."""
    errors = [r for r in rows if r.span.is_error]
    return max(errors, key=lambda r: r.depth).span if errors else None


def span_notes(span: SpanRecord, echoed: bool) -> list[Note]:
    """Tokens, time to first chunk, finish reasons, sandbox tier and exit, prompt file and hash, the error."""
    attrs = span.attributes
    out: list[Note] = []
    tokens_in, tokens_out = span.tokens
    if tokens_in or tokens_out:
        out.append(Note("tokens", f"  tokens {tokens_in}→{tokens_out}"))
    if TTFC in attrs:
        out.append(Note("dim", f"  ttfc {format_ms(float(attrs[TTFC]) * 1000)}"))
    reasons = attrs.get("gen_ai.response.finish_reasons")
    if reasons:
        out.append(Note("dim", f"  finish {','.join(map(str, reasons))}"))
    if SANDBOX_PREFIX + "tier" in attrs:
        out.append(Note("sandbox", f"  tier {attrs[SANDBOX_PREFIX + 'tier']}"))
    if SANDBOX_PREFIX + "exit_code" in attrs:
        out.append(Note("sandbox", f" exit {attrs[SANDBOX_PREFIX + 'exit_code']}"))
    if attrs.get(SANDBOX_PREFIX + "killed_by"):
        out.append(Note("killed", f" killed by {attrs[SANDBOX_PREFIX + 'killed_by']}"))
    if "nativa.prompt.file" in attrs:
        digest = str(attrs.get("nativa.prompt.hash", ""))[:12]
        out.append(Note("dim", f"  prompt {attrs['nativa.prompt.file']}" + (f"@{digest}" if digest else "")))
    if span.is_error and echoed:
        out.append(Note("echo", "  ✗ (from below)"))
    elif span.is_error:
        message = span.status_message or str(attrs.get("error.type", "error"))
        out.append(Note("error", f"  ✗ {message}"))
    return out


_NOTE_STYLE: Final = {"tokens": "green", "dim": "dim", "sandbox": "magenta", "killed": "bold red", "error": "bold red",
                      "echo": "red"}


def _bar(row: WaterfallRow, width: int) -> Text:
    offset = min(width - 1, int(row.offset * width))
    length = max(1, round(row.length * width))
    length = min(length, width - offset)
    style = "red" if row.span.is_error else "cyan"
    bar = Text("│", style="dim")
    bar.append("·" * offset, style="dim")
    bar.append("█" * length, style=style)
    bar.append("·" * (width - offset - length), style="dim")
    bar.append("│", style="dim")
    return bar


def _label(row: WaterfallRow, name_width: int, bar_width: int) -> Text:
    span = row.span
    name = span.name if len(span.name) <= _MAX_NAME else span.name[: _MAX_NAME - 1] + "…"
    pad = max(1, name_width - row.depth * _INDENT - len(name))
    label = Text(name, style="bold red" if span.is_error else "bold")
    label.append(" " * pad)
    label.append(f"{format_ms(span.duration_ms):>10} ")
    label.append_text(_bar(row, bar_width))
    for note in span_notes(span, row.echoed):
        label.append(note.text, style=_NOTE_STYLE[note.kind])
    return label


def render_trace(detail: TraceDetail, width: int | None = None) -> RenderableType:
    """The trace as a tree; every span shows its duration, a waterfall bar, tokens and any error.

    `width` (the console's) narrows the bars so name, duration and bar fit on one line; details that do not
    fit wrap below it.
    """
    summary = detail.summary
    rows = waterfall(detail)
    name_width = max(min(len(r.span.name), _MAX_NAME) + r.depth * _INDENT for r in rows) + 2
    bar_width = BAR_WIDTH if width is None else max(8, min(BAR_WIDTH, width - name_width - 11 - 2))

    status = Text("error", style="bold red") if summary.status == "error" else Text("ok", style="bold green")
    header = Text(f"trace {summary.trace_id}  ", style="bold")
    header.append(f"{format_time(summary.start_ns)}  {format_ms(summary.duration_ms)}  ")
    header.append_text(status)
    header.append(f"  {summary.span_count} spans")
    if summary.input_tokens or summary.output_tokens:
        header.append(f"  tokens {summary.input_tokens}→{summary.output_tokens}", style="green")
    if not summary.complete:
        header.append("  (incomplete: root span not written yet)", style="yellow")
    tree = Tree(header)
    nodes: list[Tree] = [tree]
    for row in rows:  # depth first: a row's parent node is the last one open at the depth above
        del nodes[row.depth:]
        nodes.append(nodes[-1].add(_label(row, name_width, bar_width)))
    cause = first_cause(rows)
    if cause is None:
        return tree
    note = Text(f"\nfirst cause: {cause.name}: {cause.status_message or cause.attributes.get('error.type')}",
                style="red")
    return Group(tree, note)


def render_trace_list(summaries: list[TraceSummary]) -> Table:
    """Ids cut to 12 hex digits fit 80 columns; `traces show` takes any unique prefix; `--json` has all."""
    table = Table(
        title="traces (newest first)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        collapse_padding=True,
    )
    table.add_column("trace id", style="cyan", no_wrap=True, min_width=12)
    table.add_column("started", no_wrap=True)
    table.add_column("root", overflow="ellipsis", no_wrap=True, max_width=20)
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("spans", justify="right", no_wrap=True)
    table.add_column("tokens", justify="right", no_wrap=True)
    for t in summaries:
        status = Text(t.status, style="red" if t.status == "error" else "green")
        if not t.complete:
            status.append("*", style="yellow")
        table.add_row(
            t.trace_id[:12],
            _short_time(t.start_ns),
            t.root_name,
            format_ms(t.duration_ms),
            status,
            str(t.span_count),
            f"{t.input_tokens}→{t.output_tokens}" if (t.input_tokens or t.output_tokens) else "-",
        )
    if any(not t.complete for t in summaries):
        table.caption = "* incomplete: the root span was not written (run still going, or it crashed)"
    return table


def render_stats(report: StatsReport) -> Table:
    """The stats report as a table: calls, latency percentiles, tokens and errors per operation."""
    window = f"last {format_window(report.since_s)}" if report.since_s else "all time"
    table = Table(
        title=f"{window}: {report.traces} traces, {report.spans} spans; latency in ms",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        collapse_padding=True,
    )
    table.add_column("kind", no_wrap=True)
    table.add_column("name", overflow="ellipsis", no_wrap=True, max_width=22)
    for column in ("calls", "p50", "p95", "p99", "tokens", "errors"):
        table.add_column(column, justify="right", no_wrap=True)
    for r in report.rows:
        table.add_row(
            r.kind,
            r.name,
            str(r.count),
            f"{r.p50_ms:.1f}",
            f"{r.p95_ms:.1f}",
            f"{r.p99_ms:.1f}",
            f"{r.input_tokens}→{r.output_tokens}" if (r.input_tokens or r.output_tokens) else "-",
            Text(f"{r.errors} ({r.error_rate:.0%})", style="red" if r.errors else ""),
        )
    return table
