"""PostgreSQL read-only, twice: a throwaway local cluster (initdb + pg_ctl, loopback only), the parser's
refusals, and the read-only transaction refusing the same writes when the parser is bypassed."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from nativa.tools.sql import SQLDatabase, SQLRefused

pytestmark = pytest.mark.integration
psycopg = pytest.importorskip("psycopg", reason="PostgreSQL support needs the 'postgres' extra (psycopg)")
BIN = next((Path(p) for p in ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")
            if (Path(p) / "initdb").exists()), None)


def _as_owner(args: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the postgres user then."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    if BIN is None or (os.geteuid() == 0 and shutil.which("runuser") is None):
        pytest.skip("no PostgreSQL server binaries on this machine")
    root = Path(tempfile.mkdtemp(prefix="nativa-pg-"))  # not under pytest's 0700 root dir: postgres must reach it
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = root / "data"
    subprocess.run(_as_owner([str(BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "nativa"]), check=True,
                   capture_output=True)
    subprocess.run(_as_owner([str(BIN / "pg_ctl"), "-D", str(data), "-w", "-l", str(root / "log"), "-o",
                              f"-k {root} -p {port} -c listen_addresses=127.0.0.1", "start"]),
                   check=True, capture_output=True)
    url = f"postgresql+psycopg://nativa@127.0.0.1:{port}/postgres"
    try:
        with psycopg.connect(f"host=127.0.0.1 port={port} user=nativa dbname=postgres", autocommit=True) as conn:
            conn.execute("CREATE TABLE vendors (id INT PRIMARY KEY, region TEXT); "
                         "CREATE TABLE items (id INT PRIMARY KEY, name TEXT, vendor_id INT REFERENCES vendors(id)); "
                         "INSERT INTO vendors VALUES (1, 'North'), (2, 'South'); "
                         "INSERT INTO items VALUES (1, 'a', 1), (2, 'b', 2), (3, 'a', 1), (4, 'a', 2), (5, 'b', 1); "
                         "CREATE SEQUENCE counter")
        yield url
    finally:
        subprocess.run(_as_owner([str(BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


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
