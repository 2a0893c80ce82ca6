"""Reading traces back: newest first, lookup by id, statistics per model and tool, and the terminal views."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from nativa import tracing
from nativa.config import Settings
from nativa.errors import BadInputError
from nativa.tracing.jsonl import ACTIVE_FILE
from nativa.tracing.store import TraceStore, parse_since, percentile
from nativa.tracing.view import render_stats, render_trace, render_trace_list


def _record(
    trace: str,
    span: str,
    parent: str | None,
    name: str,
    start_ms: float,
    dur_ms: float,
    status: str = "UNSET",
    **attributes: Any,
) -> dict[str, Any]:
    start = int(1_700_000_000e9 + start_ms * 1e6)
    return {
        "trace_id": trace,
        "span_id": span,
        "parent_id": parent,
        "name": name,
        "kind": "INTERNAL",
        "start_ns": start,
        "end_ns": start + int(dur_ms * 1e6),
        "status": status,
        "status_message": None,
        "attributes": attributes,
        "events": [],
        "resource": {},
    }


def _write(directory: Path, records: list[dict[str, Any]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ACTIVE_FILE, "a") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)
    return directory


def _traced_runs(home: Path) -> tuple[str, str]:
    """Two real agent runs through the tracing API: one succeeds, one fails in the sandbox."""
    tracing.setup(Settings(home=home))
    with (
        tracing.agent_span("code_agent") as ok_run,
        tracing.attempt_span(1),
        tracing.model_span(model="qwen-0.5b", provider="llama.cpp") as ms,
    ):
        ms.set_result(input_tokens=100, output_tokens=30)
    time.sleep(0.002)
    with pytest.raises(MemoryError), tracing.agent_span("code_agent") as bad_run, tracing.attempt_span(1):
        with tracing.model_span(model="qwen-0.5b", provider="llama.cpp") as ms:
            ms.set_result(input_tokens=50, output_tokens=20)
        with tracing.sandbox_span("A") as sb:
            sb.set_result({"tier": "A", "exit_code": -9, "killed_by": "memory"})
            raise MemoryError("sandbox hit its 512 MiB limit")
    tracing.shutdown()
    assert ok_run.trace_id and bad_run.trace_id
    return ok_run.trace_id, bad_run.trace_id


def test_list_is_newest_first_with_tokens_and_status(tmp_path: Path) -> None:
    ok_id, bad_id = _traced_runs(tmp_path)
    store = TraceStore(tmp_path / "data" / "traces")
    listed = store.recent()
    assert [t.trace_id for t in listed] == [bad_id, ok_id]
    bad, ok = listed
    assert (ok.root_name, ok.status, ok.span_count, ok.input_tokens, ok.output_tokens) == (
        "invoke_agent code_agent",
        "ok",
        3,
        100,
        30,
    )
    assert (bad.status, bad.error_count, bad.input_tokens, bad.output_tokens) == ("error", 3, 50, 20)
    assert ok.complete and ok.duration_ms > 0
    assert [t.trace_id for t in store.recent(limit=1)] == [bad_id]


def test_get_by_id_and_prefix(tmp_path: Path) -> None:
    ok_id, _ = _traced_runs(tmp_path)
    store = TraceStore(tmp_path / "data" / "traces")
    detail = store.get(ok_id)
    assert [s.name for s in detail.spans] == ["invoke_agent code_agent", "attempt 1", "chat qwen-0.5b"]
    assert store.get(ok_id[:8].upper()).summary.trace_id == ok_id


@pytest.mark.parametrize(
    ("given_id", "message"),
    [
        ("zz", "not valid: expected 32 hexadecimal"),
        ("abc", "prefix of at least 6"),
        ("0" * 32, "no trace with id '00000000000000000000000000000000'"),
    ],
)
def test_bad_trace_ids_are_bad_input(tmp_path: Path, given_id: str, message: str) -> None:
    _traced_runs(tmp_path)
    with pytest.raises(BadInputError, match=message):
        TraceStore(tmp_path / "data" / "traces").get(given_id)


def test_ambiguous_prefix(tmp_path: Path) -> None:
    d = _write(
        tmp_path,
        [
            _record("abcdef" + "0" * 26, "1" * 16, None, "a", 0, 1),
            _record("abcdef" + "1" * 26, "2" * 16, None, "b", 0, 1),
        ],
    )
    with pytest.raises(BadInputError, match="matches 2 traces"):
        TraceStore(d).get("abcdef")


def test_incomplete_trace_uses_the_orphan_as_root(tmp_path: Path) -> None:
    d = _write(tmp_path, [_record("a" * 32, "1" * 16, "f" * 16, "attempt 1", 5, 10)])
    (summary,) = TraceStore(d).recent()
    assert summary.root_name == "attempt 1" and not summary.complete


def test_stats_percentiles_errors_and_tokens(tmp_path: Path) -> None:
    records = []
    for i in range(1, 101):  # model durations 1..100 ms, every 10th fails
        records.append(
            _record(
                f"{i:032x}",
                f"{i:016x}",
                None,
                "chat m1",
                i,
                float(i),
                status="ERROR" if i % 10 == 0 else "UNSET",
                **{
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "m1",
                    "gen_ai.usage.input_tokens": 2,
                    "gen_ai.usage.output_tokens": 1,
                },
            )
        )
    records.append(
        _record(
            "f" * 32,
            "e" * 16,
            None,
            "execute_tool sql",
            0,
            7.0,
            **{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "sql"},
        )
    )
    report = TraceStore(_write(tmp_path, records)).stats()
    rows = {(r.kind, r.name): r for r in report.rows}
    model = rows[("model", "m1")]
    assert model.count == 100 and model.errors == 10 and model.error_rate == pytest.approx(0.1)
    assert model.p50_ms == pytest.approx(50.5) and model.p95_ms == pytest.approx(95.05)
    assert model.p99_ms == pytest.approx(99.01)
    assert (model.input_tokens, model.output_tokens) == (200, 100)
    tool = rows[("tool", "sql")]
    assert tool.count == 1 and tool.p50_ms == pytest.approx(7.0) and tool.input_tokens == 0
    assert report.traces == 101


def test_stats_since_filters_by_start(tmp_path: Path) -> None:
    records = [
        _record(
            f"{i:032x}",
            f"{i:016x}",
            None,
            "chat m",
            i * 60_000,
            1.0,
            **{"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"},
        )
        for i in range(10)
    ]
    d = _write(tmp_path, records)
    now = records[-1]["start_ns"] + 1
    report = TraceStore(d).stats(since_s=parse_since("150s"), now_ns=now)  # the last 3 (at 0, 60, 120 s ago)
    assert report.rows[0].count == 3


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("30m", 1800), ("1h", 3600), ("1.5d", 129600), ("2w", 1209600), (" 2 h ", 7200)],
)
def test_parse_since(text: str, seconds: float) -> None:
    assert parse_since(text) == seconds


@pytest.mark.parametrize("text", ["1x", "h", "", "-1h", "0m", "1 hour"])
def test_parse_since_rejects(text: str) -> None:
    with pytest.raises(
        BadInputError, match=r"not a duration; use a positive number followed by s, m, h, d or w"
    ):
        parse_since(text)


@given(
    st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=50),
    st.floats(min_value=0, max_value=100),
    st.floats(min_value=0, max_value=100),
)
def test_percentile_is_bounded_and_monotonic(values: list[float], q1: float, q2: float) -> None:
    ordered = sorted(values)
    lo, hi = sorted((q1, q2))
    assert ordered[0] <= percentile(ordered, lo) <= percentile(ordered, hi) + 1e-9 <= ordered[-1] + 1e-9


def _text(renderable: Any, width: int = 200) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_tree_shows_waterfall_tokens_and_errors(tmp_path: Path) -> None:
    _, bad_id = _traced_runs(tmp_path)
    text = _text(render_trace(TraceStore(tmp_path / "data" / "traces").get(bad_id)))
    assert f"trace {bad_id}" in text and "error" in text
    assert "tokens 50→20" in text
    assert "killed by memory" in text
    assert "MemoryError: sandbox hit its 512 MiB limit" in text
    assert "first cause: nativa.sandbox.run" in text
    span_lines = [line for line in text.splitlines() if "│" in line and "█" in line]
    assert len(span_lines) == 4
    bar_columns = {line.index("│", line.index(" ms ") if " ms " in line else 0) for line in span_lines}
    assert len(bar_columns) == 1, f"waterfall bars are not aligned:\n{text}"
    root_line = next(line for line in span_lines if "invoke_agent" in line)
    assert re.search(r"│█{32}│", root_line), "the root span spans the whole waterfall"
    assert "(from below)" in root_line and text.count("sandbox hit its 512 MiB limit") == 2  # span + cause


def test_list_and_stats_tables_render(tmp_path: Path) -> None:
    ok_id, _ = _traced_runs(tmp_path)
    store = TraceStore(tmp_path / "data" / "traces")
    listing = _text(render_trace_list(store.recent()))
    assert ok_id[:12] in listing and "invoke_agent" in listing and "100→30" in listing
    stats = _text(render_stats(store.stats(since_s=3600)))
    assert "qwen-0.5b" in stats and "last 1 h" in stats and "150→50" in stats
