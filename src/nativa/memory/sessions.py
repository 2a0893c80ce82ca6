"""Sessions: conversations, their messages, the agent runs inside them, and running summaries.

One implementation in portable SQL serves both backends: the SQLite file (`_sqlite.py`) and PostgreSQL
(`postgres.py`, which runs the same statements in its `nativa` schema). Payloads are JSON (never pickle),
and every write is one short transaction that takes the write lock up front, so several processes may
write at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from nativa.memory._sqlite import Database
from nativa.memory.types import AgentRun, MessageRole, RunKind, Session, StoredMessage, Summary

_SESSION_COLUMNS = ("s.id, s.name, s.owner, s.created_at, s.updated_at, "
                    "(SELECT count(*) FROM messages m WHERE m.session_id = s.id), s.metadata")


def session_from_row(row: Sequence[Any]) -> Session:
    """A `Session` from a row of `_SESSION_COLUMNS`; metadata arrives as JSON text from SQLite, as a
    dict from PostgreSQL."""
    meta = row[6]
    return Session(id=row[0], name=row[1], owner=row[2], created_at=row[3], updated_at=row[4],
                   message_count=row[5], metadata=json.loads(meta) if isinstance(meta, str) else dict(meta or {}))


def run_from_row(row: Sequence[Any]) -> AgentRun:
    """An `AgentRun` from a runs row; the result arrives as JSON text from SQLite, as a dict from
    PostgreSQL."""
    result = row[4]
    return AgentRun(id=row[0], session_id=row[1], kind=row[2], task=row[3],
                    result=json.loads(result) if isinstance(result, str) else dict(result), trace_id=row[5],
                    created_at=row[6])


class SQLSessionStore:
    """`SessionStore` on a nativa database (SQLite file or PostgreSQL), shared with its vector store."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.location = db.location

    def create_session(self, name: str, *, owner: str = "", metadata: dict[str, Any] | None = None) -> Session:
        """Create the session, or return the existing one of that name (creation is idempotent)."""
        now = time.time()
        with self.db.write() as conn:
            conn.execute("INSERT INTO sessions (owner, name, metadata, created_at, updated_at) VALUES (?, ?, ?, ?, ?) "
                         "ON CONFLICT (owner, name) DO NOTHING", (owner, name, json.dumps(metadata or {}), now, now))
            row = conn.execute(f"SELECT {_SESSION_COLUMNS} FROM sessions s WHERE s.owner = ? AND s.name = ?",
                               (owner, name)).fetchone()
        return session_from_row(row)

    def find_session(self, name: str, *, owner: str = "") -> Session | None:
        """The owner's session of that name, or None."""
        with self.db.read() as conn:
            row = conn.execute(f"SELECT {_SESSION_COLUMNS} FROM sessions s WHERE s.owner = ? AND s.name = ?",
                               (owner, name)).fetchone()
        return session_from_row(row) if row else None

    def list_sessions(self, *, owner: str = "", limit: int = 1000) -> list[Session]:
        """The owner's sessions, most recently used first."""
        with self.db.read() as conn:
            rows = conn.execute(f"SELECT {_SESSION_COLUMNS} FROM sessions s WHERE s.owner = ? "
                                "ORDER BY s.updated_at DESC, s.id DESC LIMIT ?", (owner, limit)).fetchall()
        return [session_from_row(r) for r in rows]

    def delete_session(self, session: Session) -> int:
        """Delete the session with its messages, runs and summaries; returns the messages removed."""
        with self.db.write() as conn:
            count = conn.execute("SELECT count(*) FROM messages WHERE session_id = ?", (session.id,)).fetchone()[0]
            conn.execute("DELETE FROM sessions WHERE id = ?", (session.id,))
        return int(count)

    def add_messages(self, session: Session,
                     messages: Sequence[tuple[MessageRole, str, int]]) -> list[StoredMessage]:
        """Append messages in one transaction: a turn (question and answer) is stored whole or not at all."""
        now = time.time()
        out: list[StoredMessage] = []
        with self.db.write() as conn:
            for role, content, tokens in messages:
                new_id = conn.execute("INSERT INTO messages (session_id, role, content, tokens, created_at) "
                                      "VALUES (?, ?, ?, ?, ?) RETURNING id",
                                      (session.id, role, content, tokens, now)).fetchone()[0]
                out.append(StoredMessage(new_id, session.id, role, content, tokens, now))
            conn.execute("UPDATE sessions SET updated_at = ? WHERE id = ?", (now, session.id))
        return out

    def messages(self, session: Session, *, after_id: int = 0, limit: int | None = None) -> list[StoredMessage]:
        """Messages after `after_id` in order; with `limit`, only the newest `limit` of them."""
        with self.db.read() as conn:
            if limit is None:
                rows = conn.execute("SELECT id, session_id, role, content, tokens, created_at FROM messages "
                                    "WHERE session_id = ? AND id > ? ORDER BY id", (session.id, after_id)).fetchall()
            else:
                rows = conn.execute("SELECT id, session_id, role, content, tokens, created_at FROM messages "
                                    "WHERE session_id = ? AND id > ? ORDER BY id DESC LIMIT ?",
                                    (session.id, after_id, limit)).fetchall()[::-1]
        return [StoredMessage(*r) for r in rows]

    def add_run(self, session: Session, kind: RunKind, task: str, result: dict[str, Any],
                trace_id: str | None) -> AgentRun:
        """Store the run's result as JSON (what JSON cannot hold becomes a string) and touch the session."""
        now = time.time()
        payload = json.dumps(result, default=str)
        with self.db.write() as conn:
            new_id = conn.execute("INSERT INTO runs (session_id, kind, task, result, trace_id, created_at) "
                                  "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                                  (session.id, kind, task, payload, trace_id, now)).fetchone()[0]
            conn.execute("UPDATE sessions SET updated_at = ? WHERE id = ?", (now, session.id))
        return AgentRun(new_id, session.id, kind, task, json.loads(payload), trace_id, now)

    def runs(self, session: Session, *, limit: int = 100) -> list[AgentRun]:
        """The newest `limit` runs, oldest first."""
        with self.db.read() as conn:
            rows = conn.execute("SELECT id, session_id, kind, task, result, trace_id, created_at FROM runs "
                                "WHERE session_id = ? ORDER BY id DESC LIMIT ?", (session.id, limit)).fetchall()
        return [run_from_row(r) for r in rows[::-1]]

    def add_summary(self, session: Session, upto_message_id: int, content: str, tokens: int) -> Summary:
        """Store the summary of messages up to `upto_message_id`; the ones it supersedes are removed."""
        now = time.time()
        with self.db.write() as conn:
            new_id = conn.execute("INSERT INTO summaries (session_id, upto_message_id, content, tokens, created_at) "
                                  "VALUES (?, ?, ?, ?, ?) RETURNING id",
                                  (session.id, upto_message_id, content, tokens, now)).fetchone()[0]
            conn.execute("DELETE FROM summaries WHERE session_id = ? AND upto_message_id < ?",
                         (session.id, upto_message_id))  # superseded: the new one folds them in
        return Summary(new_id, session.id, upto_message_id, content, tokens, now)

    def latest_summary(self, session: Session) -> Summary | None:
        """The summary covering the most messages, or None."""
        with self.db.read() as conn:
            row = conn.execute("SELECT id, session_id, upto_message_id, content, tokens, created_at FROM summaries "
                               "WHERE session_id = ? ORDER BY upto_message_id DESC, id DESC LIMIT 1",
                               (session.id,)).fetchone()
        return Summary(*row) if row else None

    def close(self) -> None:
        """Close the shared database (again is harmless)."""
        self.db.close()
