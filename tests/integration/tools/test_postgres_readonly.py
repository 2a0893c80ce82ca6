"""PostgreSQL read-only, twice: a throwaway local cluster (initdb + pg_ctl, loopback only), the parser's
refusals, and the read-only transaction refusing the same writes when the parser is bypassed."""

from __future__ import annotations

import pytest

from nativa.tools.sql import SQLDatabase, SQLRefused

pytestmark = pytest.mark.integration
psycopg = pytest.importorskip("psycopg", reason="PostgreSQL support needs the 'postgres' extra (psycopg)")


def test_postgres_schema_and_reads(postgres_url: str) -> None:
    db = SQLDatabase(postgres_url)
    try:
        context = db.as_tool().context() or ""
        assert "TABLE items (id INTEGER PK, name TEXT, vendor_id INTEGER -> vendors.id), 5 rows" in context
        assert db.query("SELECT COUNT(*) FROM items").rows == [(5,)]
        hint = db.as_tool().call({"query": "SELECT region FROM items"}).observation
        assert "add JOIN vendors ON vendors.id = items.vendor_id" in hint
    finally:
        db.close()


@pytest.mark.parametrize("statement", ["INSERT INTO items VALUES (9, 'z', 1)", "UPDATE items SET name = 'x'",
                                       "DELETE FROM items", "DROP TABLE items", "CREATE TABLE t (a INT)",
                                       "WITH d AS (DELETE FROM items RETURNING *) SELECT * FROM d",
                                       "SELECT * INTO copy FROM items", "SELECT nextval('counter')",
                                       "SET default_transaction_read_only = off", "SELECT 1; DELETE FROM items",
                                       "SELECT 1 FROM items FOR UPDATE"])
def test_postgres_refuses_writes_in_the_parser_and_in_the_database(postgres_url: str, statement: str) -> None:
    db = SQLDatabase(postgres_url, timeout_s=2)
    try:
        with pytest.raises(SQLRefused):
            db.query(statement)
        raw = db.engine.raw_connection()
        try:
            if "SET default" not in statement and ";" not in statement:
                with pytest.raises(psycopg.Error, match="read-only transaction"):
                    raw.cursor().execute(statement)
        finally:
            raw.rollback()
            raw.close()
        assert db.query("SELECT COUNT(*) FROM items").rows == [(5,)]
    finally:
        db.close()


def test_postgres_statement_timeout(postgres_url: str) -> None:
    db = SQLDatabase(postgres_url, timeout_s=0.5)
    try:
        observation = db.as_tool().call({"query": "SELECT COUNT(*) FROM generate_series(1, 100000000)"}).observation
        assert "statement timeout" in observation or "longer than" in observation
    finally:
        db.close()
