"""Terminal views of stored traces: a waterfall tree for one trace, tables for the list and the statistics.

The tree pads each name by its depth so durations and bars line up in columns: a waterfall is read by
comparing bars, which only works when they start at the same column.
"""

from __future__ import annotations

import datetime as dt
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
    return dt.datetime.fromtimestamp(ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")


def _short_time(ns: int) -> str:
    moment = dt.datetime.fromtimestamp(ns / 1e9)
    return moment.strftime("%H:%M:%S" if moment.date() == dt.date.today() else "%m-%d %H:%M")


def _bar(span: SpanRecord, t0: int, total_ns: int, width: int) -> Text:
    total = max(total_ns, 1)
    offset = min(width - 1, int((span.start_ns - t0) / total * width))
    length = max(1, round((span.end_ns - span.start_ns) / total * width))
    length = min(length, width - offset)
    style = "red" if span.is_error else "cyan"
    bar = Text("│", style="dim")
    bar.append("·" * offset, style="dim")
    bar.append("█" * length, style=style)
    bar.append("·" * (width - offset - length), style="dim")
    bar.append("│", style="dim")
    return bar


def _details(span: SpanRecord, echoed: bool) -> Text:
    attrs = span.attributes
    out = Text()
    tokens_in, tokens_out = span.tokens
    if tokens_in or tokens_out:
        out.append(f"  tokens {tokens_in}→{tokens_out}", style="green")
    if TTFC in attrs:
        out.append(f"  ttfc {format_ms(float(attrs[TTFC]) * 1000)}", style="dim")
    reasons = attrs.get("gen_ai.response.finish_reasons")
    if reasons:
        out.append(f"  finish {','.join(map(str, reasons))}", style="dim")
    if SANDBOX_PREFIX + "tier" in attrs:
        out.append(f"  tier {attrs[SANDBOX_PREFIX + 'tier']}", style="magenta")
    if SANDBOX_PREFIX + "exit_code" in attrs:
        out.append(f" exit {attrs[SANDBOX_PREFIX + 'exit_code']}", style="magenta")
    if attrs.get(SANDBOX_PREFIX + "killed_by"):
        out.append(f" killed by {attrs[SANDBOX_PREFIX + 'killed_by']}", style="bold red")
    if "nativa.prompt.file" in attrs:
        digest = str(attrs.get("nativa.prompt.hash", ""))[:12]
        out.append(f"  prompt {attrs['nativa.prompt.file']}" + (f"@{digest}" if digest else ""), style="dim")
    if span.is_error and echoed:  # the same exception came up from a child: say it once, where it started
        out.append("  ✗ (from below)", style="red")
    elif span.is_error:
        message = span.status_message or str(attrs.get("error.type", "error"))
        out.append(f"  ✗ {message}", style="bold red")
    return out


def _label(
    span: SpanRecord, depth: int, name_width: int, t0: int, total_ns: int, bar_width: int, echoed: bool
) -> Text:
    name = span.name if len(span.name) <= _MAX_NAME else span.name[: _MAX_NAME - 1] + "…"
    pad = max(1, name_width - depth * _INDENT - len(name))
    label = Text(name, style="bold red" if span.is_error else "bold")
    label.append(" " * pad)
    label.append(f"{format_ms(span.duration_ms):>10} ")
    label.append_text(_bar(span, t0, total_ns, bar_width))
    label.append_text(_details(span, echoed))
    return label


def render_trace(detail: TraceDetail, width: int | None = None) -> RenderableType:
    """The trace as a tree; every span shows its duration, a waterfall bar, tokens and any error.

    `width` (the console's) narrows the bars so name, duration and bar fit on one line; details that do not
    fit wrap below it.
    """
    summary = detail.summary
    children = detail.children()
    t0 = min(s.start_ns for s in detail.spans)
    total_ns = max(s.end_ns for s in detail.spans) - t0

    depths: dict[str, int] = {}
    stack = [(s, 1) for s in children[None]]
    while stack:
        s, depth = stack.pop()
        depths[s.span_id] = depth
        stack.extend((c, depth + 1) for c in children.get(s.span_id, []))
    name_width = (
        max(min(len(s.name), _MAX_NAME) + depths.get(s.span_id, 1) * _INDENT for s in detail.spans) + 2
    )
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

    def add(node: Tree, span: SpanRecord, depth: int) -> None:
        kids = sorted(children.get(span.span_id, []), key=lambda s: s.start_ns)
        echoed = any(k.is_error and k.status_message == span.status_message for k in kids)
        child = node.add(_label(span, depth, name_width, t0, total_ns, bar_width, echoed))
        for c in kids:
            add(child, c, depth + 1)

    for root in sorted(children[None], key=lambda s: s.start_ns):
        add(tree, root, 1)
    errors = [s for s in detail.spans if s.is_error]
    if not errors:
        return tree
    # The deepest failing span is usually the cause; say it once under the tree.
    cause = max(errors, key=lambda s: depths.get(s.span_id, 0))
    note = Text(
        f"\nfirst cause: {cause.name}: {cause.status_message or cause.attributes.get('error.type')}",
        style="red",
    )
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
