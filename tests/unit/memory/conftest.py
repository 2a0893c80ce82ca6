"""Memory fixtures: one `make_memory` factory per backend, so the conformance suite runs on every store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.embedder import WordHashEmbedder
from support.postgres_vector import fresh_database, pgvector_server

from nativa.config import Settings
from nativa.memory import Memory, open_memory

MakeMemory = Callable[..., Memory]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    with pgvector_server() as server:
        yield server


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.integration)]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def memory_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "postgres":
        return fresh_database(request.getfixturevalue("pg_server"))
    return str(tmp_path / "nativa.db")


@pytest.fixture
def make_memory(memory_url: str, tmp_path: Path) -> Iterator[MakeMemory]:
    """Open the test's store (again and again: each call is a new connection, like a new process)."""
    opened: list[Memory] = []

    def make(embedder: Any = "default", **settings: Any) -> Memory:
        cfg = Settings(home=tmp_path / "home", memory_url=memory_url, **settings)
        memory = open_memory(cfg, embedder=WordHashEmbedder() if embedder == "default" else embedder)
        opened.append(memory)
        return memory

    yield make
    for memory in opened:
        memory.close()


@pytest.fixture
def exporter(tmp_path: Path) -> Iterator[Any]:
    """Tracing on, into memory, for assertions on the memory.* spans."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from nativa import tracing

    tracing.shutdown()
    exporter = InMemorySpanExporter()
    tracing.setup(Settings(home=tmp_path / "home"), exporters=[exporter])
    yield exporter
    tracing.shutdown()


@pytest.fixture
def sqlite_memory(tmp_path: Path) -> Iterator[Memory]:
    memory = open_memory(Settings(home=tmp_path / "home", memory_url=str(tmp_path / "nativa.db")),
                         embedder=WordHashEmbedder())
    yield memory
    memory.close()
