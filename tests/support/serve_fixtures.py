"""Server fixtures shared by the unit and integration suites: settings under the test's home, tracing into
memory, torn down after each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from nativa import tracing
from nativa.config import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


@pytest.fixture(autouse=True)
def spans(settings: Settings) -> Iterator[InMemorySpanExporter]:
    """Tracing on with an in-memory exporter; `create_app`'s own setup call then keeps this one."""
    tracing.shutdown()
    exporter = InMemorySpanExporter()
    tracing.setup(settings, exporters=[exporter])
    yield exporter
    tracing.shutdown()
