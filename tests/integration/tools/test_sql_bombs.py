"""Read-only queries that try to make nativa allocate gigabytes (issue 11, finding 3), on real SQLite,
DuckDB and PostgreSQL. Each query runs in a fresh interpreter whose peak memory is measured from outside
the database library too (its own ru_maxrss), so SQLite's, DuckDB's and psycopg's allocations count, not
only Python's. The answer must be a clear refusal or a result cut with a visible marker, never gigabytes.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

# Python, SQLAlchemy and the drivers are loaded before the baseline is taken: the growth is the query's.
_CHILD = """
import json, resource, sys
from nativa.tools.sql import SQLDatabase
from nativa.tools.base import ToolError
url, sql, timeout_s, kwargs = sys.argv[1], sys.argv[2], float(sys.argv[3]), json.loads(sys.argv[4])
db = SQLDatabase(url, timeout_s=timeout_s, **kwargs)
db.query("SELECT 1")
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    r = db.query(sql)
    out = {"ok": True, "rows": len(r.rows), "truncated": r.truncated, "cut_reason": r.cut_reason,
           "observation": r.to_observation()[:3000], "dict": r.to_dict()["rows"][:2]}
except ToolError as exc:
    out = {"ok": False, "error": str(exc)}
out["grew_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
print(json.dumps(out))
"""
GREW_MB = 200  # the attacks below ask for 0.4 to 4.5 GB


def run_isolated(url: str, sql: str, *, timeout_s: float = 5.0, **kwargs: Any) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", _CHILD, url, sql, str(timeout_s), json.dumps(kwargs)],
                          check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def assert_bounded(out: dict[str, Any]) -> None:
    assert out["grew_mb"] < GREW_MB, out
    if out["ok"]:
        assert out["truncated"] or "cut:" in out["observation"], out
    else:
        assert "limit" in out["error"], out


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("bombs") / "small.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"n{i}") for i in range(100)])
    return f"sqlite:///{path}"


ROWS = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 1000) "
SQLITE_BOMBS = {
    "issue-zeroblob-x5": "WITH b(x) AS MATERIALIZED (SELECT zeroblob(900000000)) SELECT x,x,x,x,x FROM b",
    "randomblob": "SELECT randomblob(400000000) AS a",
    "zeroblob-in-expression": "SELECT length(x) FROM (SELECT zeroblob(900000000) || 'a' AS x)",
    "hex-replace": "SELECT replace(hex(zeroblob(50000000)), '0', '00000000') AS s",
    "printf-width": "SELECT printf('%.*c', 900000000, 'x') AS p, printf('%0900000000d', 1) AS q",
    "recursive-doubling": ("WITH RECURSIVE r(s, n) AS (SELECT 'x', 0 UNION ALL SELECT s || s, n + 1 FROM r "
                           "WHERE n < 32) SELECT s FROM r"),
    "group-concat": ROWS.replace("1000", "3000000") + "SELECT group_concat(hex(randomblob(500)), '') FROM r",
    "many-medium-cells": ROWS + "SELECT " + ", ".join(f"randomblob(900000) AS c{i}" for i in range(10)) + " FROM r",
    "wide-row": "SELECT " + ", ".join(f"randomblob(900000) AS c{i}" for i in range(300)),
    "char-repeat": ("WITH RECURSIVE r(s) AS (SELECT char(65) UNION ALL SELECT s || s || s FROM r "
                    "WHERE length(s) < 500000000) SELECT max(length(s)), s FROM r"),
}


@pytest.mark.parametrize("sql", list(SQLITE_BOMBS.values()), ids=list(SQLITE_BOMBS))
def test_sqlite_blob_and_string_bombs_are_refused_or_cut(sqlite_url: str, sql: str) -> None:
    out = run_isolated(sqlite_url, sql)
    if sql == SQLITE_BOMBS["printf-width"] and out["ok"] and not out["truncated"]:
        # SQLite's own refusal: printf() stops at SQLITE_LIMIT_LENGTH (which the tool sets to the per-value cap)
        # and, depending on the SQLite build, either raises "string or blob too big" or returns NULL.
        assert out["grew_mb"] < GREW_MB, out
        assert out["dict"] == [["NULL", "NULL"]], out
        return
    assert_bounded(out)


def test_sqlite_printf_under_the_cap_is_not_refused(sqlite_url: str) -> None:
    out = run_isolated(sqlite_url, "SELECT length(printf('%.*c', 900000, 'x')) AS n")
    assert out["ok"] and out["dict"] == [["900000"]], out


def test_sqlite_many_medium_cells_come_back_cut_with_a_marker(sqlite_url: str) -> None:
    out = run_isolated(sqlite_url, SQLITE_BOMBS["many-medium-cells"])
    assert out["ok"] and out["truncated"] and "byte limit" in (out["cut_reason"] or "")
    assert "cut at the" in out["observation"]


def test_sqlite_the_issue_query_names_the_limit(sqlite_url: str) -> None:
    out = run_isolated(sqlite_url, SQLITE_BOMBS["issue-zeroblob-x5"])
    assert not out["ok"] and "1048576-byte limit per value" in out["error"] and "substr(" in out["error"]


def test_sqlite_endless_recursion_stops_at_the_deadline(sqlite_url: str) -> None:
    endless = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT n FROM r ORDER BY n DESC"
    out = run_isolated(sqlite_url, endless, timeout_s=1.0)
    assert not out["ok"] and "longer than the 1 s limit" in out["error"]


def test_sqlite_ordinary_queries_are_untouched(sqlite_url: str) -> None:
    out = run_isolated(sqlite_url, "SELECT id, name, length(name) AS n FROM t ORDER BY id DESC LIMIT 3")
    assert out["ok"] and not out["truncated"] and out["dict"] == [["99", "n99", "3"], ["98", "n98", "3"]]


@pytest.fixture(scope="module")
def duckdb_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    duckdb = pytest.importorskip("duckdb")
    path = tmp_path_factory.mktemp("bombs") / "small.duckdb"
    conn = duckdb.connect(str(path))
    conn.execute("CREATE TABLE t AS SELECT range AS id, 'n' || range AS name FROM range(100)")
    conn.close()
    return f"duckdb:///{path}"


DUCKDB_BOMBS = {
    "string-agg": "SELECT string_agg('x', '') AS s FROM range(2000000000)",
    "list": "SELECT list(range) AS l FROM range(1000000000)",
    "sorted-range": "SELECT * FROM range(3000000000) t(a) ORDER BY a DESC",
    "wide-many-rows": "SELECT repeat('x', 50000) AS a, repeat('y', 50000) AS b FROM range(1000000000)",
}


@pytest.mark.parametrize("sql", list(DUCKDB_BOMBS.values()), ids=list(DUCKDB_BOMBS))
def test_duckdb_bombs_are_refused_or_cut(duckdb_url: str, sql: str) -> None:
    assert_bounded(run_isolated(duckdb_url, sql, timeout_s=5.0, memory_limit_mb=128))


def test_duckdb_oversized_values_come_back_as_markers(duckdb_url: str) -> None:
    out = run_isolated(duckdb_url, "SELECT 1 AS a, repeat('x', 30000000) AS b, 'ok' AS c")
    assert out["ok"] and out["dict"][0][0] == "1" and out["dict"][0][2] == "ok"
    assert out["dict"][0][1] == "<cut: 30000000 bytes, over the 1048576-byte cell limit>"


def test_duckdb_ordinary_queries_are_untouched(duckdb_url: str) -> None:
    out = run_isolated(duckdb_url, "SELECT id, name FROM t ORDER BY id DESC LIMIT 2")
    assert out["ok"] and out["dict"] == [["99", "n99"], ["98", "n98"]]
    dupes = run_isolated(duckdb_url, "SELECT 1 AS x, 2 AS y UNION ALL SELECT 3, 4 ORDER BY x")
    assert dupes["dict"] == [["1", "2"], ["3", "4"]]


PG_BOMBS = {
    "two-huge-values": "SELECT repeat('x', 400000000) AS a, repeat('y', 400000000) AS b",
    "many-medium-cells": ("SELECT " + ", ".join(f"repeat('x', 900000) AS c{i}" for i in range(10))
                          + " FROM generate_series(1, 1000)"),
    "many-rows": "SELECT repeat('x', 10000) AS a FROM generate_series(1, 100000000)",
    "string-agg": "SELECT string_agg(repeat('x', 1000), '') FROM generate_series(1, 900000)",
}


@pytest.mark.parametrize("sql", list(PG_BOMBS.values()), ids=list(PG_BOMBS))
def test_postgres_bombs_are_refused_or_cut(postgres_url: str, sql: str) -> None:
    assert_bounded(run_isolated(postgres_url, sql, timeout_s=10.0))


def test_postgres_oversized_values_come_back_as_markers(postgres_url: str) -> None:
    out = run_isolated(postgres_url, "SELECT 1 AS a, repeat('x', 30000000) AS b, 'ok' AS c")
    assert out["ok"] and out["dict"][0] == ["1", "<cut: 30000000 bytes, over the 1048576-byte cell limit>", "ok"]
    ordinary = run_isolated(postgres_url, "SELECT id, name FROM items ORDER BY id DESC LIMIT 2")
    assert ordinary["ok"] and ordinary["dict"] == [["5", "b"], ["4", "a"]]


def test_the_result_budget_is_a_setting(tmp_path: Path, sqlite_url: str) -> None:
    out = run_isolated(sqlite_url, "SELECT name, randomblob(5000) FROM t", max_result_bytes=20_000)
    assert out["ok"] and out["truncated"] and 0 < out["rows"] < 10
