"""Every run leaves one `nativa.sandbox.run` span with its tier, layers and outcome (and only one)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from nativa import tracing
from nativa.config import Settings
from nativa.sandbox import Sandbox

pytestmark = pytest.mark.integration


@pytest.fixture
def spans(tmp_path: Path) -> Iterator[InMemorySpanExporter]:
    tracing.shutdown()
    exporter = InMemorySpanExporter()
    tracing.setup(Settings(home=tmp_path / "home"), exporters=[exporter])
    yield exporter
    tracing.shutdown()


def _finished(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    assert tracing.force_flush(timeout_s=10.0)
    return [s for s in exporter.get_finished_spans() if s.name == "nativa.sandbox.run"]


def test_a_run_records_tier_layers_and_killer(spans: InMemorySpanExporter) -> None:
    sandbox = Sandbox()
    sandbox.run("while True:\n    pass\n", timeout_s=0.3)
    (span,) = _finished(spans)
    attrs = dict(span.attributes or {})
    assert attrs["nativa.sandbox.tier"] == sandbox.tier and attrs["nativa.sandbox.mode"] == "oneshot"
    assert attrs["nativa.sandbox.killed_by"] == "timeout" and attrs["nativa.sandbox.ok"] is False
    assert list(attrs["nativa.sandbox.layers"]) == sandbox.layers  # type: ignore[arg-type]


def test_a_callers_span_is_filled_in_not_nested(spans: InMemorySpanExporter) -> None:
    sandbox = Sandbox()
    with tracing.sandbox_span(sandbox.tier):  # what the agent does around sandbox.run
        sandbox.run("print(1)")
    (span,) = _finished(spans)  # one run, one span: metrics count it once
    attrs = dict(span.attributes or {})
    assert attrs["nativa.sandbox.exit_code"] == 0 and attrs["nativa.sandbox.mode"] == "oneshot"
    assert "nativa.sandbox.layers" in attrs
