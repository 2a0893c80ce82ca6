"""Long-term memories in SQLite: rows in `memories`, embeddings in sqlite-vec `vec0` tables, one file.

One `vec0` table per dimension (`memory_vectors_<dim>`), partitioned by owner and namespace so a search
scans only its own namespace, with the session as a metadata column so a per-session search filters
inside the scan. sqlite-vec zeroes a deleted vector in its chunk and `secure_delete` zeroes deleted rows,
so after `compact()` a forgotten memory's text and embedding bytes are gone from the file. The PostgreSQL
twin is `postgres.py`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from nativa.errors import DimensionMismatchError
from nativa.memory._sqlite import Database, SQLiteDatabase
from nativa.memory.types import MemoryItem, NewMemory, Recall, Session

_MAX_K = 4096  # sqlite-vec's limit on k


def space_of(owner: str, namespace: str) -> str:
    """The partition key: owner and namespace, joined by a separator neither can contain."""
    return f"{owner}\x1f{namespace}"


def check_namespace(found: tuple[str, int] | None, namespace: str, model: str, dim: int) -> None:
    """A namespace keeps the embedder it was written with: other vectors would give garbage scores."""
    if found is None:
        return
    have_model, have_dim = found
    if have_dim != dim or have_model != model:
        raise DimensionMismatchError(
            f"namespace '{namespace}' holds {have_dim}-dimensional vectors of embedder '{have_model}', "
            f"but embedder '{model}' gives {dim} dimensions; use another namespace or NATIVA_EMBEDDER={have_model}")


def memory_filter(*, owner: str, id: int | None = None, namespace: str | None = None, session: Session | None = None,
                  older_than_s: float | None = None, live: bool = False, prefix: str = "") -> tuple[str, list[Any]]:
    """The WHERE clause (portable `?` SQL) selecting an owner's memories by every filter given."""
    where, args = [f"{prefix}owner = ?"], [owner]
    for column, value in (("id", id), ("namespace", namespace), ("session_id", session.id if session else None)):
        if value is not None:
            where.append(f"{prefix}{column} = ?")
            args.append(value)
    if older_than_s is not None:
        where.append(f"{prefix}created_at < ?")
        args.append(time.time() - older_than_s)
    if live:
        where.append(f"({prefix}expires_at IS NULL OR {prefix}expires_at > ?)")
        args.append(time.time())
    return " AND ".join(where), args


def list_memories(conn: Any, *, owner: str, namespace: str | None, session: Session | None,
                  limit: int) -> list[MemoryItem]:
    """The newest live memories first; the same SQL on both backends."""
    where, args = memory_filter(owner=owner, namespace=namespace, session=session, live=True, prefix="m.")
    rows = conn.execute(
        "SELECT m.id, m.text, m.namespace, s.name, m.metadata, m.created_at, m.expires_at FROM memories m "
        f"LEFT JOIN sessions s ON s.id = m.session_id WHERE {where} ORDER BY m.id DESC LIMIT ?",
        [*args, limit]).fetchall()
    return [MemoryItem(r[0], r[1], r[2], r[3], json.loads(r[4]) if isinstance(r[4], str) else dict(r[4]), r[5], r[6])
            for r in rows]


def count_memories(conn: Any, owner: str, namespace: str) -> int:
    """The namespace's size from its counter (a count(*) per write would make writes O(size))."""
    row = conn.execute("SELECT items FROM namespaces WHERE owner = ? AND name = ?", (owner, namespace)).fetchone()
    return int(row[0]) if row else 0


def adjust_counts(conn: Any, spaces: Sequence[tuple[str, str]], sign: int) -> None:
    """Keep each namespace's counter right after memories were added (sign 1) or deleted (sign -1)."""
    tally: dict[tuple[str, str], int] = {}
    for space in spaces:
        tally[space] = tally.get(space, 0) + 1
    for (owner, namespace), n in tally.items():
        conn.execute("UPDATE namespaces SET items = items + ? WHERE owner = ? AND name = ?", (sign * n, owner, namespace))


def blob(vector: Sequence[float]) -> bytes:
    """The vector as float32 bytes, the form sqlite-vec stores and matches."""
    return np.asarray(vector, dtype=np.float32).tobytes()


class SQLVectorStoreBase:
    """What both vector stores share: listing, counting, compacting and closing their database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.location = db.location

    def list(self, *, owner: str, namespace: str | None = None, session: Session | None = None,
             limit: int = 100) -> list[MemoryItem]:
        """The newest memories first (expired ones excluded)."""
        with self.db.read() as conn:
            return list_memories(conn, owner=owner, namespace=namespace, session=session, limit=limit)

    def count(self, *, owner: str, namespace: str) -> int:
        """The namespace's size, read from its counter (not a count(*))."""
        with self.db.read() as conn:
            return count_memories(conn, owner, namespace)

    def compact(self) -> None:
        """Rewrite the database so deleted memories' bytes leave the disk."""
        self.db.compact()

    def close(self) -> None:
        """Close the shared database (again is harmless)."""
        self.db.close()


class SQLiteVectorStore(SQLVectorStoreBase):
    """`VectorStore` on a nativa SQLite file with sqlite-vec."""

    db: SQLiteDatabase

    def _table(self, conn: Any, dim: int, *, create: bool) -> str | None:
        name = f"memory_vectors_{int(dim)}"
        exists = conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone()
        if not exists:
            if not create:
                return None
            conn.execute(f"CREATE VIRTUAL TABLE {name} USING vec0(space TEXT PARTITION KEY, session_id INTEGER, "
                         f"embedding float[{int(dim)}] distance_metric=cosine)")
        return name

    @staticmethod
    def _namespace(conn: Any, owner: str, namespace: str) -> tuple[str, int] | None:
        row = conn.execute("SELECT model, dim FROM namespaces WHERE owner = ? AND name = ?",
                           (owner, namespace)).fetchone()
        return (row[0], int(row[1])) if row else None

    def add(self, items: Sequence[NewMemory], *, namespace: str, owner: str, session: Session | None,
            model: str, max_items: int) -> list[MemoryItem]:
        """Store memories; past `max_items` in the namespace, the oldest are deleted in the same transaction."""
        if not items:
            return []
        dim = len(items[0].vector)
        now = time.time()
        out: list[MemoryItem] = []
        with self.db.write() as conn:
            self._purge_expired(conn, now)
            found = self._namespace(conn, owner, namespace)
            check_namespace(found, namespace, model, dim)
            for item in items:
                check_namespace((model, dim), namespace, model, len(item.vector))
            if found is None:
                conn.execute("INSERT INTO namespaces (owner, name, model, dim, items, created_at) "
                             "VALUES (?, ?, ?, ?, 0, ?)", (owner, namespace, model, dim, now))
            table = self._table(conn, dim, create=True)
            space = space_of(owner, namespace)
            for item in items:
                cur = conn.execute(
                    "INSERT INTO memories (owner, namespace, session_id, text, metadata, dim, created_at, expires_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (owner, namespace, session.id if session else None, item.text, json.dumps(item.metadata), dim, now,
                     item.expires_at))
                conn.execute(f"INSERT INTO {table} (rowid, space, session_id, embedding) VALUES (?, ?, ?, ?)",
                             (cur.lastrowid, space, session.id if session else 0, blob(item.vector)))
                out.append(MemoryItem(cur.lastrowid, item.text, namespace, session.name if session else None,
                                      dict(item.metadata), now, item.expires_at))
            adjust_counts(conn, [(owner, namespace)] * len(items), 1)
            over = count_memories(conn, owner, namespace) - max_items
            evicted: set[int] = set()
            if over > 0:  # the oldest go first
                rows = conn.execute("SELECT id, dim, owner, namespace FROM memories WHERE owner = ? AND namespace = ? "
                                    "ORDER BY id LIMIT ?", (owner, namespace, over)).fetchall()
                self._delete_ids(conn, rows)
                evicted = {r[0] for r in rows}
        return [o for o in out if o.id not in evicted]

    def search(self, vector: Sequence[float], *, k: int, namespace: str, owner: str, model: str,
               session: Session | None = None, min_score: float | None = None) -> list[Recall]:
        """The `k` memories closest to `vector` by cosine, best first; expired memories never come back."""
        if k <= 0:
            return []
        now = time.time()
        with self.db.read() as conn:
            expired = conn.execute("SELECT 1 FROM memories WHERE expires_at <= ? LIMIT 1", (now,)).fetchone()
        if expired:
            with self.db.write() as conn:
                self._purge_expired(conn, now)
        with self.db.read() as conn:
            found = self._namespace(conn, owner, namespace)
            if found is None:
                return []
            check_namespace(found, namespace, model, len(vector))
            table = self._table(conn, found[1], create=False)
            if table is None:
                return []
            sql = (f"SELECT v.rowid, v.distance, m.text, m.metadata, m.created_at, m.expires_at, s.name "
                   f"FROM {table} v JOIN memories m ON m.id = v.rowid LEFT JOIN sessions s ON s.id = m.session_id "
                   f"WHERE v.embedding MATCH ? AND v.k = ? AND v.space = ?")
            args: list[Any] = [blob(vector), min(k, _MAX_K), space_of(owner, namespace)]
            if session is not None:
                sql += " AND v.session_id = ?"
                args.append(session.id)
            rows = conn.execute(sql + " ORDER BY v.distance", args).fetchall()
        out = []
        for rid, distance, text, meta, created, expires, sname in rows:
            score = 1.0 - float(distance)
            if min_score is not None and score < min_score:
                continue
            out.append(Recall(MemoryItem(rid, text, namespace, sname, json.loads(meta), created, expires), score))
        return out

    def delete(self, *, owner: str, id: int | None = None, namespace: str | None = None,
               session: Session | None = None, older_than_s: float | None = None) -> int:
        """Delete the memories matching every given filter; returns how many went."""
        where, args = memory_filter(owner=owner, id=id, namespace=namespace, session=session,
                                    older_than_s=older_than_s)
        with self.db.write() as conn:
            rows = conn.execute(f"SELECT id, dim, owner, namespace FROM memories WHERE {where}", args).fetchall()
            self._delete_ids(conn, rows)
        return len(rows)

    def _delete_ids(self, conn: Any, rows: Sequence[tuple[int, int, str, str]]) -> None:
        """Delete (id, dim, owner, namespace) rows from the vectors and the memories, and uncount them."""
        for rid, dim, _, _ in rows:
            table = self._table(conn, dim, create=False)
            if table is not None:
                conn.execute(f"DELETE FROM {table} WHERE rowid = ?", (rid,))
            conn.execute("DELETE FROM memories WHERE id = ?", (rid,))
        adjust_counts(conn, [(r[2], r[3]) for r in rows], -1)

    def _purge_expired(self, conn: Any, now: float) -> None:
        rows = conn.execute("SELECT id, dim, owner, namespace FROM memories WHERE expires_at <= ?", (now,)).fetchall()
        self._delete_ids(conn, rows)

