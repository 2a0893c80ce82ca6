"""Review tests: the shipped policy, loaded once, and spans caught by the SDK's in-memory exporter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from support.tracing_fixtures import _no_otel_env, capture_spans  # noqa: F401  (autouse pytest fixture)

from nativa.review import Policy


@pytest.fixture(scope="session")
def policy() -> Policy:
    return Policy.load()


@pytest.fixture
def spans(tmp_path: Path) -> Iterator[InMemorySpanExporter]:
    yield from capture_spans(tmp_path / "home")
