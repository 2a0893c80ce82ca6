"""Read-only SQL holds twice: the parser refuses every write form with a reason, and the database refuses
the same statements when the parser is bypassed. The file is checked unchanged afterwards."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import DBAPIError

from nativa.tools.sql import SQLDatabase, SQLRefused

# (statement, words the refusal must contain)
WRITES = [
    ("INSERT INTO items VALUES (9, 'x', 1.0)", "INSERT"),
    ("insert into items(name) select name from items", "INSERT"),
    ("REPLACE INTO items VALUES (1, 'y', 2.0)", "REPLACE"),
    ("UPDATE items SET price = 0", "UPDATE"),
    ("DELETE FROM items", "DELETE"),
    ("DROP TABLE items", "DROP TABLE"),
    ("CREATE TABLE evil (a)", "CREATE TABLE"),
    ("CREATE TEMP TABLE evil (a)", "CREATE"),
    ("CREATE INDEX i ON items(name)", "CREATE INDEX"),
    ("CREATE VIEW v AS SELECT 1", "CREATE VIEW"),
    ("ALTER TABLE items ADD COLUMN z", "ALTER"),
    ("ATTACH DATABASE 'other.db' AS other", "ATTACH"),
    ("ATTACH 'file:other.db?mode=rwc' AS other", "ATTACH"),
    ("DETACH DATABASE other", "DETACH"),
    ("PRAGMA query_only = OFF", "PRAGMA query_only"),
    ("PRAGMA journal_mode = WAL", "PRAGMA journal_mode"),
    ("PRAGMA journal_mode(WAL)", "PRAGMA journal_mode"),
    ("PRAGMA writable_schema = 1", "PRAGMA writable_schema"),
    ("PRAGMA user_version = 7", "PRAGMA user_version"),
    ("SELECT 1; DELETE FROM items", "2 statements"),
    ("SELECT * FROM items; DROP TABLE items;", "2 statements"),
    ("select 1;;insert into items values (5, 'q', 1)", "2 statements"),
    ("WITH gone AS (DELETE FROM items RETURNING *) SELECT * FROM gone", "in a CTE"),
    ("WITH x AS (SELECT 1) INSERT INTO items SELECT 7, 'w', 1 FROM x", "INSERT"),
    ("WITH RECURSIVE r AS (UPDATE items SET price = 1 RETURNING *) SELECT 1", "in a CTE"),
    ("SELECT load_extension('/tmp/evil.so')", "load_extension"),
    ("VACUUM", "VACUUM"),
    ("VACUUM INTO '/tmp/copy.db'", "VACUUM"),
    ("REINDEX", "refused"),
    ("BEGIN IMMEDIATE", "transaction control"),
    ("SAVEPOINT a", "refused"),
    ("ANALYZE", "ANALYZE"),
    ("", "empty"),
    ("  ; -- nothing", "empty"),
]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def dbfile(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE vendors (id INTEGER PRIMARY KEY, name TEXT NOT NULL, region TEXT NOT NULL);
        CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL,
                            vendor_id INTEGER REFERENCES vendors(id));
        CREATE INDEX items_vendor ON items(vendor_id);
        INSERT INTO vendors VALUES (1, 'Acme', 'North'), (2, 'Globex', 'South');
        INSERT INTO items VALUES (1, 'apple', 0.5, 1), (2, 'pear', 0.75, 2), (3, 'fig', 2.25, 1),
                                 (4, 'kiwi', 0.3, 2), (5, 'plum', 1.1, 1);
    """)
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def db(dbfile: Path) -> Iterator[SQLDatabase]:
    database = SQLDatabase(f"sqlite:///{dbfile}")
    yield database
    database.close()


@pytest.mark.parametrize(("statement", "reason"), WRITES, ids=[w[0][:40] or "empty" for w in WRITES])
def test_parser_refuses_every_write_form_and_says_why(db: SQLDatabase, dbfile: Path, statement: str,
                                                      reason: str) -> None:
    before = _digest(dbfile)
    with pytest.raises(SQLRefused) as refused:
        db.query(statement)
    assert reason.lower() in str(refused.value).lower(), str(refused.value)
    result = db.as_tool().call({"query": statement})  # the same through the tool: an observation, not a crash
    assert not result.ok and result.error_type == "SQLRefused"
    assert _digest(dbfile) == before
    assert db.query("SELECT COUNT(*) FROM items").rows == [(5,)]


@pytest.mark.parametrize("statement", [w[0] for w in WRITES if w[1] != "empty"],
                         ids=[w[0][:40] for w in WRITES if w[1] != "empty"])
def test_database_itself_refuses_writes_when_the_parser_is_bypassed(db: SQLDatabase, dbfile: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    statement: str) -> None:
    """The second wall: mode=ro + query_only + the authorizer, with the statement sent straight to SQLite."""
    monkeypatch.chdir(tmp_path)
    before = _digest(dbfile)
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        with pytest.raises((sqlite3.DatabaseError, sqlite3.Warning, sqlite3.ProgrammingError, DBAPIError)):
            # executescript would run several statements; the database must refuse the first write it meets
            if ";" in statement.strip().rstrip(";"):
                raw.driver_connection.executescript(statement)  # type: ignore[union-attr]
            else:
                cursor.execute(statement)
                cursor.fetchall()
    finally:
        raw.close()
    assert _digest(dbfile) == before
    assert not (tmp_path / "other.db").exists()
    assert not Path("/tmp/copy.db").exists() or "VACUUM INTO" not in statement


def test_reads_are_allowed_including_read_only_pragmas(db: SQLDatabase) -> None:
    assert db.query("SELECT name FROM items WHERE price > 1 ORDER BY name").rows == [("fig",), ("plum",)]
    assert db.query("WITH cheap AS (SELECT * FROM items WHERE price < 1) SELECT COUNT(*) FROM cheap;").rows == [(3,)]
    assert db.query("select 1 union select 2").rows == [(1,), (2,)]
    info = db.query("PRAGMA table_info(items)")
    assert [r[1] for r in info.rows] == ["id", "name", "price", "vendor_id"]
    assert db.query("SELECT 'a; DROP TABLE items' AS s").rows == [("a; DROP TABLE items",)]


def test_missing_database_file_is_refused_not_created(tmp_path: Path) -> None:
    from nativa.errors import BadInputError

    with pytest.raises(BadInputError, match="no SQLite database at"):
        SQLDatabase(f"sqlite:///{tmp_path / 'typo.db'}")
    assert not (tmp_path / "typo.db").exists()
    with pytest.raises(BadInputError, match="valid forms"):
        SQLDatabase("not a url")
    with pytest.raises(BadInputError, match="not supported"):
        SQLDatabase("mysql://u@h/db")


def test_writes_only_with_the_grant_and_never_attach_or_multi_statement(dbfile: Path) -> None:
    writable = SQLDatabase(f"sqlite:///{dbfile}", allow_writes=True)
    try:
        assert writable.query("INSERT INTO items VALUES (6, 'lime', 0.2, 1)").rowcount == 1
        assert writable.query("UPDATE items SET price = 0.25 WHERE id = 6").rowcount == 1
        with pytest.raises(SQLRefused, match="ATTACH"):
            writable.query("ATTACH 'x.db' AS x")
        with pytest.raises(SQLRefused, match="2 statements"):
            writable.query("DELETE FROM items WHERE id = 6; DROP TABLE items")
        with pytest.raises(SQLRefused, match="PRAGMA"):
            writable.query("PRAGMA writable_schema = 1")
    finally:
        writable.close()
    reader = SQLDatabase(f"sqlite:///{dbfile}")
    assert reader.query("SELECT price FROM items WHERE id = 6").rows == [(0.25,)]
    reader.close()


_KEYWORDS = ["SELECT", "INSERT", "UPDATE", "DELETE", "DROP", "CREATE", "ATTACH", "PRAGMA", "WITH", "INTO", "SET",
             "VALUES", "FROM", "items", "x", "(", ")", ";", "'a'", "1", "*", "=", ",", "AS", "RETURNING", "TABLE",
             "query_only", "--", "/*", "*/", "REPLACE", "VACUUM", "load_extension"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(_KEYWORDS), min_size=1, max_size=12))
def test_no_token_soup_ever_changes_the_database(db: SQLDatabase, dbfile: Path, words: list[str]) -> None:
    before = _digest(dbfile)
    db.as_tool().call({"query": " ".join(words)})  # refused, an SQL error, or a harmless read
    assert _digest(dbfile) == before


def test_row_limit_and_time_limit(dbfile: Path) -> None:
    small = SQLDatabase(f"sqlite:///{dbfile}", max_rows=2, timeout_s=0.3)
    try:
        result = small.query("SELECT name FROM items ORDER BY id")
        assert result.truncated and len(result.rows) == 2
        assert "more rows exist, only the first 2 are shown" in result.to_observation()
        slow = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT COUNT(*) FROM r"
        observation = small.as_tool().call({"query": slow}).observation
        assert "longer than the 0.3 s limit" in observation
        assert small.query("SELECT COUNT(*) FROM items").rows == [(5,)]  # the connection still works after
    finally:
        small.close()
