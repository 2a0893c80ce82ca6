"""Tracing fixtures: tracing installed with the SDK's in-memory exporter; no OTEL_* variable leaks in."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from support.tracing_fixtures import _no_otel_env  # noqa: F401  (autouse pytest fixture)

from nativa import tracing
from nativa.config import Settings


class Recorded:
    """The in-memory exporter plus helpers that flush first, so assertions see every finished span."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self.exporter = exporter

    def spans(self) -> list[ReadableSpan]:
        assert tracing.force_flush(timeout_s=10.0)
        return list(self.exporter.get_finished_spans())

    def by_name(self) -> dict[str, ReadableSpan]:
        spans = self.spans()
        named = {s.name: s for s in spans}
        assert len(named) == len(spans), f"span names are not unique: {[s.name for s in spans]}"
        return named


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


@pytest.fixture
def recorded(settings: Settings) -> Recorded:
    exporter = InMemorySpanExporter()
    tracing.setup(settings, exporters=[exporter])
    return Recorded(exporter)


@pytest.fixture
def setup_with(tmp_path: Path) -> Callable[..., Recorded]:
    """Install tracing with other settings (e.g. content recording on)."""

    def make(**overrides: object) -> Recorded:
        exporter = InMemorySpanExporter()
        tracing.setup(Settings(home=tmp_path / "home", **overrides), exporters=[exporter])
        return Recorded(exporter)

    return make
