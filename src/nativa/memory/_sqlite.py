"""The one SQLite file both SQLite stores share: opening it safely, migrating it, and short transactions.

Safety rules, each for a failure seen in other stores:
- WAL mode and `synchronous=FULL`: readers never block the writer, and a commit survives `kill -9` and a
  power cut.
- Writes take the write lock up front (`BEGIN IMMEDIATE`) and wait for it (`busy_timeout`), so a second
  process waits its turn instead of getting "database is locked" in the middle of a transaction.
- The file is stamped with nativa's `application_id` and a schema version (`user_version`); a file of
  another program, a corrupt file or one from a newer nativa is refused with its path, never reset.
- `secure_delete` zeroes deleted rows in place and `compact()` rewrites the file and empties the WAL, so
  what `forget` removed is gone from the bytes on disk (tests grep the file).
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from nativa.errors import MemoryFileError, MemoryStoreError

APPLICATION_ID = 0x4E415456  # "NATV" in the SQLite header, so a foreign file is told apart from ours

# Each entry moves the schema from version i to i + 1; released entries are never edited, only appended.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL, metadata TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL, updated_at REAL NOT NULL, UNIQUE (owner, name));
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        role TEXT NOT NULL, content TEXT NOT NULL, tokens INTEGER NOT NULL, created_at REAL NOT NULL);
    CREATE INDEX messages_by_session ON messages (session_id, id);
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        kind TEXT NOT NULL, task TEXT NOT NULL, result TEXT NOT NULL, trace_id TEXT, created_at REAL NOT NULL);
    CREATE INDEX runs_by_session ON runs (session_id, id);
    CREATE TABLE summaries (
        id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        upto_message_id INTEGER NOT NULL, content TEXT NOT NULL, tokens INTEGER NOT NULL,
        created_at REAL NOT NULL);
    CREATE INDEX summaries_by_session ON summaries (session_id, id);
    CREATE TABLE namespaces (
        owner TEXT NOT NULL, name TEXT NOT NULL, model TEXT NOT NULL, dim INTEGER NOT NULL, items INTEGER NOT NULL,
        created_at REAL NOT NULL, PRIMARY KEY (owner, name));
    CREATE TABLE memories (
        id INTEGER PRIMARY KEY, owner TEXT NOT NULL, namespace TEXT NOT NULL,
        session_id INTEGER REFERENCES sessions (id), text TEXT NOT NULL, metadata TEXT NOT NULL,
        dim INTEGER NOT NULL, created_at REAL NOT NULL, expires_at REAL);
    CREATE INDEX memories_by_space ON memories (owner, namespace, id);
    CREATE INDEX memories_by_session ON memories (session_id) WHERE session_id IS NOT NULL;
    CREATE INDEX memories_by_expiry ON memories (expires_at) WHERE expires_at IS NOT NULL;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class Database(Protocol):
    """What the SQL stores need of a backend: short write transactions and read snapshots whose
    connection runs `?`-placeholder SQL (PostgreSQL's adapter translates)."""

    location: str

    def write(self) -> Any:
        """A context manager around one short write transaction (committed on exit, rolled back on an
        error); it yields a connection that runs `?` SQL."""
        ...

    def read(self) -> Any:
        """A context manager around a consistent snapshot for several reads."""
        ...

    def compact(self) -> None:
        """Reclaim deleted rows' space, so forgotten data leaves the disk."""
        ...

    def close(self) -> None:
        """Release the connection; closing twice is harmless (both stores of a `Memory` close it)."""
        ...


def sqlite_module() -> ModuleType:
    """The standard library's sqlite3 when it can load extensions (sqlite-vec), else pysqlite3's build."""
    import sqlite3

    if hasattr(sqlite3.Connection, "enable_load_extension"):
        return sqlite3
    try:
        return importlib.import_module("pysqlite3.dbapi2")
    except ImportError:
        raise MemoryStoreError("this Python's sqlite3 cannot load extensions (sqlite-vec); install "
                               "pysqlite3-binary (a dependency of nativa on Linux x86_64)") from None


class SQLiteDatabase:
    """One connection to a nativa memory file, serialised by a lock; every write is a short transaction."""

    def __init__(self, path: Path, *, busy_timeout_s: float = 30.0) -> None:
        self.path = path
        self.location = str(path)
        self.busy_timeout_s = busy_timeout_s
        self.sqlite = sqlite_module()
        self._lock = threading.RLock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MemoryStoreError(f"cannot create the folder of the memory database {path}: {exc.strerror}") from None
        try:
            self.conn: Any = self.sqlite.connect(str(path), isolation_level=None, check_same_thread=False,
                                                 timeout=busy_timeout_s)
        except self.sqlite.Error as exc:
            raise MemoryStoreError(f"cannot open the memory database {path}: {exc}") from None
        try:
            with self.translated():
                self._open()
        except BaseException:
            self.conn.close()
            raise

    # -- opening -----------------------------------------------------------------------------------
    def _open(self) -> None:
        conn = self.conn
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]  # reads the header: fails on a non-database
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app_id != APPLICATION_ID and (app_id != 0 or tables or version):
            raise MemoryFileError(
                f"{self.path} is a SQLite database of another program (application_id {app_id:#x}, {tables} "
                "objects), not a nativa memory file; nativa leaves it untouched. Set NATIVA_MEMORY_URL to "
                "another file")
        if version > SCHEMA_VERSION:
            raise MemoryFileError(
                f"{self.path} has memory schema version {version}, newer than this nativa knows "
                f"({SCHEMA_VERSION}); upgrade nativa or set NATIVA_MEMORY_URL to another file")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA secure_delete = ON")
        self._load_vec()
        if version < SCHEMA_VERSION:
            self._migrate()

    def _load_vec(self) -> None:
        try:
            import sqlite_vec
        except ImportError:
            raise MemoryStoreError("sqlite-vec is not installed; reinstall nativa (pip install nativa)") from None
        self.conn.enable_load_extension(True)
        try:
            sqlite_vec.load(self.conn)
        finally:
            self.conn.enable_load_extension(False)

    def _migrate(self) -> None:
        """Apply pending migrations in one write transaction; a concurrent opener waits, then finds none."""
        with self.write() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for script in MIGRATIONS[version:]:
                for statement in (s.strip() for s in script.split(";")):
                    if statement:
                        conn.execute(statement)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # -- transactions ------------------------------------------------------------------------------
    @contextmanager
    def translated(self) -> Iterator[None]:
        """SQLite's errors as nativa's: a damaged file names the file; a lock held too long says so."""
        try:
            yield
        except self.sqlite.DatabaseError as exc:
            text = str(exc)
            if "not a database" in text or "malformed" in text or "corrupt" in text:
                raise MemoryFileError(
                    f"{self.path} is not a usable nativa memory database ({text}); it was left as it is: move "
                    "it aside to start afresh, or set NATIVA_MEMORY_URL to another file") from None
            if "locked" in text or "busy" in text:
                raise MemoryStoreError(
                    f"the memory database {self.path} stayed locked by another writer for more than "
                    f"{self.busy_timeout_s:g} s (NATIVA_MEMORY_BUSY_TIMEOUT_S)") from None
            raise MemoryStoreError(f"memory database {self.path}: {text}") from None

    @contextmanager
    def write(self) -> Iterator[Any]:
        """A write transaction that holds the write lock from its first statement (BEGIN IMMEDIATE)."""
        with self._lock, self.translated():
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                if self.conn.in_transaction:  # SQLite may have rolled back already (disk full, ...)
                    self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[Any]:
        """A consistent snapshot for several reads."""
        with self._lock, self.translated():
            self.conn.execute("BEGIN")
            try:
                yield self.conn
            finally:
                self.conn.execute("COMMIT")

    def compact(self) -> None:
        """Rewrite the file without free pages and empty the WAL, so deleted bytes leave the disk."""
        with self._lock, self.translated():
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.conn.execute("VACUUM")
            busy = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            deadline = time.monotonic() + self.busy_timeout_s
            while busy and time.monotonic() < deadline:  # a reader in another process holds old frames
                time.sleep(0.05)
                busy = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]

    def close(self) -> None:
        """Close the connection (again is harmless: both stores of a `Memory` close it)."""
        with self._lock:
            self.conn.close()
