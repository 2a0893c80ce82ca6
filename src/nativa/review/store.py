"""SQLite storage for review: the audit log and the approval grants, in one WAL-mode file.

The tables are namespaced `review_*` and the schema is versioned on its own (`review_meta`), so this can
live in the same file as the session store (`$NATIVA_HOME/nativa.db`) without either owning the other's
schema; `PRAGMA user_version` is left to the file's owner. A new file is stamped with nativa's
`application_id`, the session store's own, so the session store opens a file that review created first.
The audit table refuses UPDATE and DELETE by trigger (append-only for anything going through SQLite), and
the chain catches whatever goes around it. `review_pending` (runs paused for approval) is `pending.py`'s, versioned
there under its own key in `review_meta`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from nativa.errors import AuditError, BadInputError
from nativa.review.approvals import Action, Grant
from nativa.review.audit import AuditEntry, Head
from nativa.review.findings import Finding

SCHEMA_VERSION = 1
# The session store's file stamp (nativa.memory._sqlite.APPLICATION_ID; a test keeps the two equal): a file
# that holds only review tables is still nativa's, so the session store may add its own to it.
APPLICATION_ID = 0x4E415456
# Each version's statements, applied in order to bring an older file up to SCHEMA_VERSION.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE review_audit (
            seq INTEGER PRIMARY KEY, at TEXT NOT NULL, who TEXT NOT NULL, session TEXT NOT NULL,
            subject TEXT NOT NULL, scope TEXT, code_hash TEXT NOT NULL, verdict TEXT NOT NULL,
            approved INTEGER NOT NULL, max_risk TEXT NOT NULL, findings TEXT NOT NULL, reason TEXT NOT NULL,
            prev_hash TEXT NOT NULL, hash TEXT NOT NULL)""",
        "CREATE INDEX review_audit_by_session ON review_audit (session, seq)",
        ("CREATE TABLE review_audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, "
         "hash TEXT NOT NULL)"),
        ("CREATE TRIGGER review_audit_no_update BEFORE UPDATE ON review_audit "
         "BEGIN SELECT RAISE(ABORT, 'review_audit is append-only'); END"),
        ("CREATE TRIGGER review_audit_no_delete BEFORE DELETE ON review_audit "
         "BEGIN SELECT RAISE(ABORT, 'review_audit is append-only'); END"),
        """CREATE TABLE review_grants (
            id INTEGER PRIMARY KEY, session TEXT, scope TEXT NOT NULL, action TEXT NOT NULL,
            action_key TEXT NOT NULL, who TEXT NOT NULL, at TEXT NOT NULL)""",
        "CREATE INDEX review_grants_by_session ON review_grants (session)",
    ),
}
_COLUMNS = ("seq, at, who, session, subject, scope, code_hash, verdict, approved, max_risk, findings, reason, "
            "prev_hash, hash")


def migrate(db: sqlite3.Connection, key: str, migrations: dict[int, tuple[str, ...]], what: str) -> None:
    """Bring the tables versioned under `key` in `review_meta` up to the newest of `migrations`, inside the
    caller's transaction; a file newer than this nativa is refused rather than half read."""
    newest = max(migrations)
    row = db.execute("SELECT value FROM review_meta WHERE key = ?", (key,)).fetchone()
    current = int(row[0]) if row else 0
    if current > newest:
        raise AuditError(f"{what} are schema version {current}, newer than this nativa reads ({newest}): "
                         "upgrade nativa")
    for version in range(current + 1, newest + 1):
        for statement in migrations[version]:
            db.execute(statement)
    db.execute("INSERT INTO review_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET "
               "value = excluded.value", (key, str(newest)))


class SQLiteReviewStore:
    """Audit entries and approval grants in a SQLite file (WAL, one transaction per append)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise BadInputError(f"review database {self.path} is a directory: give a file path, e.g. nativa.db")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # an entry acknowledged is on disk (but see append)
            self._lock = threading.RLock()  # append holds it around its transaction
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise AuditError(f"cannot open the review database {self.path}: {exc}") from None
        except OSError as exc:
            raise BadInputError(f"cannot create the review database {self.path}: {exc.strerror}") from None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction holding the write lock from its start (BEGIN IMMEDIATE), for `pending.py`."""
        with self._transaction() as db:
            yield db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _migrate(self) -> None:
        with self._transaction() as db:
            if db.execute("PRAGMA application_id").fetchone()[0] == 0 and not db.execute(
                    "SELECT count(*) FROM sqlite_master").fetchone()[0]:
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")  # a new file: nativa's
            db.execute("CREATE TABLE IF NOT EXISTS review_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            migrate(db, "schema_version", _MIGRATIONS, f"the review tables in {self.path}")

    def close(self) -> None:
        """Close the file's connection; the store is also a context manager that does this."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- AuditStore --------------------------------------------------------------------------------------

    def append(self, build: Callable[[Head | None], AuditEntry], *, durable: bool = True) -> AuditEntry:
        """Read the head and insert the entry and the new head in one IMMEDIATE transaction; `durable=False`
        commits without waiting on fsync (see `AuditStore.append`)."""
        with self._lock:
            if not durable:  # WAL: committed, on disk with the next FULL commit or checkpoint (see AuditStore)
                self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                return self._append(build)
            finally:
                if not durable:
                    self._db.execute("PRAGMA synchronous=FULL")

    def _append(self, build: Callable[[Head | None], AuditEntry]) -> AuditEntry:
        with self._transaction() as db:
            row = db.execute("SELECT seq, hash FROM review_audit_head WHERE id = 1").fetchone()
            entry = build((int(row[0]), str(row[1])) if row else None)
            db.execute(f"INSERT INTO review_audit ({_COLUMNS}) VALUES ({', '.join('?' * 14)})",
                       (entry.seq, entry.at, entry.who, entry.session, entry.subject, entry.scope, entry.code_hash,
                        entry.verdict, int(entry.approved), entry.max_risk,
                        json.dumps([f.to_dict() for f in entry.findings], ensure_ascii=False), entry.reason,
                        entry.prev_hash, entry.hash))
            db.execute("INSERT INTO review_audit_head (id, seq, hash) VALUES (1, ?, ?) "
                       "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                       (entry.seq, entry.hash))
        return entry

    def entries(self, session: str | None = None) -> list[AuditEntry]:
        """Entries by seq (all sessions when `session` is None); unreadable findings come back as one
        high-risk finding rather than an error, so the log stays readable."""
        query = f"SELECT {_COLUMNS} FROM review_audit"
        args: tuple[str, ...] = ()
        if session is not None:
            query += " WHERE session = ?"
            args = (session,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY seq", args).fetchall()
        return [_entry(row) for row in rows]

    def head(self) -> Head | None:
        """(seq, hash) of the last entry appended, from its own row: removing entries cannot move it."""
        with self._lock:
            row = self._db.execute("SELECT seq, hash FROM review_audit_head WHERE id = 1").fetchone()
        return (int(row[0]), str(row[1])) if row else None

    # -- ApprovalStore -----------------------------------------------------------------------------------

    def add_grant(self, grant: Grant) -> None:
        """Store the grant, so it holds for later processes too (`always` grants across sessions)."""
        with self._transaction() as db:
            db.execute("INSERT INTO review_grants (session, scope, action, action_key, who, at) "
                       "VALUES (?, ?, ?, ?, ?, ?)",
                       (grant.session, grant.scope, json.dumps(grant.action.to_list()), grant.action.key,
                        grant.who, grant.at))

    def grants(self, session: str) -> list[Grant]:
        """This session's grants plus every `always` grant, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT session, scope, action, who, at FROM review_grants "
                                    "WHERE session IS NULL OR session = ? ORDER BY id", (session,)).fetchall()
        return [Grant(Action.from_list(json.loads(action)), scope, sess, who, at)
                for sess, scope, action, who, at in rows]


def _entry(row: tuple[object, ...]) -> AuditEntry:
    (seq, at, who, session, subject, scope, code_hash, verdict, approved, max_risk, findings, reason, prev_hash,
     digest) = row
    try:
        parsed = tuple(Finding.from_dict(f) for f in json.loads(str(findings)))
    except (ValueError, KeyError, TypeError):
        parsed = (Finding("unreadable", "high", 0, f"unreadable findings: {str(findings)[:80]}"),)
    return AuditEntry(seq=int(seq), at=str(at), who=str(who), session=str(session),  # type: ignore[call-overload]
                      subject=str(subject), scope=None if scope is None else str(scope), code_hash=str(code_hash),
                      verdict=str(verdict), approved=bool(approved), max_risk=str(max_risk), findings=parsed,
                      reason=str(reason), prev_hash=str(prev_hash), hash=str(digest))
