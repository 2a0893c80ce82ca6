"""Tracing tests start from no tracing and no inherited OTEL_* configuration (shared by both suites)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from nativa import tracing
from nativa.config import Settings


@pytest.fixture(autouse=True)
def _no_otel_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in list(os.environ):
        if key.startswith("OTEL_"):
            monkeypatch.delenv(key, raising=False)
    tracing.shutdown()
    yield
    tracing.shutdown()


def capture_spans(home: Path, **settings: Any) -> Iterator[InMemorySpanExporter]:
    """Tracing set up afresh with spans kept in memory, for a fixture to `yield from`; whatever an earlier test
    set up is shut down first so these spans land here."""
    tracing.shutdown()
    exporter = InMemorySpanExporter()
    tracing.setup(Settings(home=home, **settings), exporters=[exporter])
    yield exporter
    tracing.shutdown()


def finished_span(exporter: InMemorySpanExporter, name: str) -> dict[str, Any]:
    """The attributes of the one finished span called `name`, after a flush (fails the test if there is not
    exactly one)."""
    assert tracing.force_flush(timeout_s=10.0)
    found = [s for s in exporter.get_finished_spans() if s.name == name]
    assert len(found) == 1, f"{len(found)} spans named {name!r}"
    return dict(found[0].attributes or {})
