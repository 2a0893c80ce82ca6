"""The local JSONL store: record shape, rotation by size, whole lines for readers while writers append."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from nativa import tracing
from nativa.config import Settings
from nativa.tracing.jsonl import ACTIVE_FILE, JsonlSpanExporter, read_records, store_files


def _make_spans(n: int, payload: str = "") -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    for i in range(n):
        with (
            tracer.start_as_current_span("root", attributes={"i": i, "payload": payload}),
            tracer.start_as_current_span("child"),
        ):
            pass
    return list(memory.get_finished_spans())


def test_setup_writes_jsonl_under_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    tracing.setup(settings)  # default exporter: jsonl
    with tracing.agent_span("a") as run, tracing.model_span(model="m", provider="p") as ms:
        ms.set_result(input_tokens=5, output_tokens=6)
    trace_id = run.trace_id
    tracing.shutdown()
    path = tmp_path / "data" / "traces" / ACTIVE_FILE
    assert tracing.traces_dir(settings) == path.parent
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == 2
    chat = next(r for r in records if r["name"] == "chat m")
    agent = next(r for r in records if r["name"] == "invoke_agent a")
    assert chat["trace_id"] == agent["trace_id"] == trace_id
    assert chat["parent_id"] == agent["span_id"] and agent["parent_id"] is None
    assert chat["attributes"]["gen_ai.usage.input_tokens"] == 5
    assert chat["kind"] == "INTERNAL" and chat["status"] == "UNSET"
    assert chat["end_ns"] >= chat["start_ns"] and chat["duration_ms"] >= 0
    assert chat["resource"]["service.name"] == "nativa"
    assert set(chat) >= {
        "trace_id",
        "span_id",
        "parent_id",
        "name",
        "kind",
        "start_ns",
        "end_ns",
        "duration_ms",
        "status",
        "attributes",
        "events",
        "resource",
    }


def test_error_events_are_stored(tmp_path: Path) -> None:
    tracing.setup(Settings(home=tmp_path))
    with pytest.raises(ZeroDivisionError), tracing.span("divide"):
        1 / 0  # noqa: B018
    tracing.shutdown()
    (record,) = read_records(tmp_path / "data" / "traces")
    assert record["status"] == "ERROR" and record["attributes"]["error.type"] == "ZeroDivisionError"
    assert record["events"][0]["name"] == "exception"
    assert "ZeroDivisionError" in record["events"][0]["attributes"]["exception.stacktrace"]


def test_rotation_keeps_at_most_n_files_and_the_newest_spans(tmp_path: Path) -> None:
    exporter = JsonlSpanExporter(tmp_path, max_bytes=4096, keep=3)
    for batch in range(30):
        spans = _make_spans(2, payload=f"batch-{batch:02d}-" + "x" * 200)
        exporter.export(spans)
    files = store_files(tmp_path)
    assert [f.name for f in files] == [f"{ACTIVE_FILE}.2", f"{ACTIVE_FILE}.1", ACTIVE_FILE]
    for f in files:
        assert f.stat().st_size <= 4096
    payloads = [r["attributes"].get("payload", "") for r in read_records(tmp_path)]
    batches = sorted({p[6:8] for p in payloads if p})
    assert batches[-1] == "29"  # the newest batch survived
    assert "00" not in batches  # the oldest was rotated away
    assert batches == sorted(batches) and len(batches) < 30


def test_keep_one_truncates_in_place(tmp_path: Path) -> None:
    exporter = JsonlSpanExporter(tmp_path, max_bytes=8192, keep=1)
    for _ in range(20):
        exporter.export(_make_spans(2, payload="y" * 300))
    assert [f.name for f in store_files(tmp_path)] == [ACTIVE_FILE]
    assert 0 < (tmp_path / ACTIVE_FILE).stat().st_size <= 8192


def test_torn_and_foreign_lines_are_skipped(tmp_path: Path) -> None:
    exporter = JsonlSpanExporter(tmp_path)
    exporter.export(_make_spans(1))
    with open(tmp_path / ACTIVE_FILE, "ab") as f:
        f.write(b'{"not": "a span"}\n{"trace_id": "ab", "span_id": "cd", "name": "torn')
    records = list(read_records(tmp_path))
    assert [r["name"] for r in records] == ["child", "root"]


def test_bad_limits_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1024"):
        JsonlSpanExporter(tmp_path, max_bytes=10)
    with pytest.raises(ValueError, match="keep at least 1"):
        JsonlSpanExporter(tmp_path, keep=0)


def test_concurrent_writers_and_a_reader_see_only_whole_lines(tmp_path: Path) -> None:
    spans = _make_spans(5, payload="z" * 500)  # 10 spans per batch
    writers = [JsonlSpanExporter(tmp_path, max_bytes=1 << 20, keep=2) for _ in range(2)]
    stop = threading.Event()
    seen: list[int] = []

    def read_loop() -> None:
        while not stop.is_set():
            seen.append(sum(1 for _ in read_records(tmp_path)))

    def write_loop(exporter: JsonlSpanExporter) -> None:
        for _ in range(40):
            exporter.export(spans)

    reader = threading.Thread(target=read_loop)
    reader.start()
    threads = [threading.Thread(target=write_loop, args=(w,)) for w in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    reader.join()
    lines = b"".join(f.read_bytes() for f in store_files(tmp_path)).split(b"\n")
    assert lines[-1] == b""
    for line in lines[:-1]:
        assert json.loads(line)["span_id"]  # every line whole and valid
    assert len(lines) - 1 == 2 * 40 * 10
    assert seen and all(count % 10 == 0 for count in seen)  # a reader never sees half a batch
