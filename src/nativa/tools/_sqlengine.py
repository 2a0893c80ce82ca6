"""Open a database so that the database itself refuses writes unless the user granted them.

The parser (`_sqlguard`) explains refusals; this layer makes them hold even if the parser were fooled:
- SQLite: the file is opened `mode=ro` (URI), `PRAGMA query_only=ON` is set, and an authorizer denies
  every write, ATTACH/DETACH, setting PRAGMAs and file/extension functions, statement by statement.
- DuckDB: `read_only=True`, and `enable_external_access=false` so queries cannot read other files.
- PostgreSQL: every transaction is READ ONLY (`default_transaction_read_only`) and `statement_timeout` is set.
A query that runs past its time limit is interrupted (SQLite/DuckDB `interrupt()`, PostgreSQL's timeout and
a cancel request). Resources are capped where the engine can: SQLite's length limit (`SQLITE_LIMIT_LENGTH`,
no string or blob over the cell cap is ever built), DuckDB's `memory_limit`, `threads` and no spilling to a
temporary directory (`temp_directory=''`: a query over the limit fails instead of writing to disk).
"""

from __future__ import annotations

import sqlite3
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import NullPool, StaticPool

from nativa.errors import BadInputError
from nativa.tools._sqlguard import READ_PRAGMAS

BACKENDS = ("sqlite", "postgresql", "duckdb")
VALID_URLS = "sqlite:///path/to/file.db, duckdb:///path/to/file.duckdb, postgresql://user@host/dbname"

_READ_ACTIONS = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
                           sqlite3.SQLITE_RECURSIVE, sqlite3.SQLITE_TRANSACTION})
_WRITE_ACTIONS = frozenset(getattr(sqlite3, name) for name in dir(sqlite3) if name.startswith((
    "SQLITE_INSERT", "SQLITE_UPDATE", "SQLITE_DELETE", "SQLITE_CREATE_", "SQLITE_DROP_", "SQLITE_ALTER_TABLE",
    "SQLITE_REINDEX", "SQLITE_ANALYZE", "SQLITE_SAVEPOINT")))
_SQLITE_REFUSED_FUNCTIONS = frozenset({"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"})
# PRAGMAs SQLAlchemy itself reads when it connects and reflects; reading them changes nothing.
_SQLITE_DIALECT_PRAGMAS = frozenset({"read_uncommitted", "query_only"})


def backend_of(url: str) -> str:
    """`sqlite`, `postgresql` or `duckdb` for a database URL, or a BadInputError listing valid URLs."""
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        raise BadInputError(f"--db {url!r} is not a database URL; valid forms: {VALID_URLS}") from None
    if backend not in BACKENDS:
        raise BadInputError(f"database backend {backend!r} in {url!r} is not supported; valid: {VALID_URLS}")
    return backend


@dataclass(frozen=True, slots=True)
class EngineLimits:
    """What the engine itself enforces on every connection (see the module docstring)."""

    timeout_s: float = 10.0
    max_value_bytes: int = 1_048_576
    memory_limit_mb: int = 512
    threads: int = 2


def open_engine(url: str, *, allow_writes: bool, timeout_s: float,
                limits: EngineLimits | None = None) -> tuple[Engine, str]:
    """An engine for `url` that enforces read-only at the database unless `allow_writes`."""
    backend = backend_of(url)
    limits = limits or EngineLimits(timeout_s=timeout_s)
    if backend == "sqlite":
        return _sqlite(url, allow_writes, limits), backend
    if backend == "duckdb":
        return _duckdb(url, allow_writes, limits), backend
    return _postgres(url, allow_writes, timeout_s), backend


def _sqlite(url: str, allow_writes: bool, limits: EngineLimits) -> Engine:
    database = make_url(url).database
    memory = database in (None, "", ":memory:")
    if not memory:
        path = Path(database).expanduser()  # type: ignore[arg-type]
        if not path.is_file():
            raise BadInputError(f"no SQLite database at {path} (from --db {url!r}); give the path of an "
                                f"existing file, e.g. sqlite:///sales.db")
        mode = "rw" if allow_writes else "ro"
        target = f"file:{urllib.parse.quote(str(path.resolve()))}?mode={mode}"
    else:
        target = "file::memory:"

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(target, uri=True, check_same_thread=False)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, limits.max_value_bytes)
        if not allow_writes:
            conn.execute("PRAGMA query_only=ON")
        conn.set_authorizer(_authorizer(allow_writes))
        return conn

    # One shared connection for an in-memory database (each new one would be empty).
    return create_engine("sqlite://", creator=connect, poolclass=StaticPool if memory else NullPool)


def _authorizer(allow_writes: bool) -> Any:
    def authorize(action: int, arg1: str | None, arg2: str | None, _db: str | None, _src: str | None) -> int:
        if action == sqlite3.SQLITE_FUNCTION:
            return sqlite3.SQLITE_DENY if (arg2 or "").lower() in _SQLITE_REFUSED_FUNCTIONS else sqlite3.SQLITE_OK
        if action in _READ_ACTIONS:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA:
            name = (arg1 or "").lower()
            if name in READ_PRAGMAS or (name in _SQLITE_DIALECT_PRAGMAS and arg2 is None):
                return sqlite3.SQLITE_OK
            return sqlite3.SQLITE_DENY
        if allow_writes and action in _WRITE_ACTIONS:
            return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY  # ATTACH, DETACH, writes without the grant, anything new

    return authorize


def _duckdb(url: str, allow_writes: bool, limits: EngineLimits) -> Engine:
    database = make_url(url).database
    memory = database in (None, "", ":memory:")
    if not memory and not Path(database).expanduser().is_file():  # type: ignore[arg-type]
        raise BadInputError(f"no DuckDB database at {database} (from --db {url!r}); give the path of an existing file")
    args: dict[str, Any] = {"config": {"enable_external_access": False, "memory_limit": f"{limits.memory_limit_mb}MB",
                                       "threads": limits.threads, "temp_directory": ""}}
    if not memory:
        args["read_only"] = not allow_writes
    engine = create_engine(url, connect_args=args, poolclass=StaticPool if memory else NullPool)

    @event.listens_for(engine, "connect")
    def _session(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("SET enable_progress_bar = false")  # a per-connection option: no bars on stdout

    return engine


def _postgres(url: str, allow_writes: bool, timeout_s: float) -> Engine:
    engine = create_engine(url, pool_pre_ping=True)
    millis = max(1, int(timeout_s * 1000))

    @event.listens_for(engine, "connect")
    def _session(dbapi_conn: Any, _record: Any) -> None:  # pragma: no cover - needs a PostgreSQL server
        cursor = dbapi_conn.cursor()
        cursor.execute(f"SET statement_timeout = {millis}")
        if not allow_writes:
            cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            cursor.execute("SET default_transaction_read_only = on")
        cursor.close()
        dbapi_conn.commit()

    return engine


@contextmanager
def deadline(dbapi_conn: Any, timeout_s: float) -> Iterator[threading.Event]:
    """Interrupt the running statement after `timeout_s`; the yielded event says whether it fired."""
    fired = threading.Event()
    # SQLite and DuckDB stop the running statement; psycopg sends PostgreSQL a cancel request.
    interrupt = getattr(dbapi_conn, "interrupt", None) or getattr(dbapi_conn, "cancel_safe", None)

    def stop() -> None:
        fired.set()
        if callable(interrupt):
            with suppress(Exception):  # a failed cancel still leaves the statement timeout and the row checks
                interrupt()

    timer = threading.Timer(timeout_s, stop)
    timer.daemon = True
    timer.start()
    try:
        yield fired
    finally:
        timer.cancel()
