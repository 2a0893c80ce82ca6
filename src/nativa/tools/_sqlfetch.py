"""Run one checked statement and fetch its rows under byte budgets and one deadline.

A read-only query can still ask the database to build gigabytes (`zeroblob(900000000)` five times, a
string doubled in a recursive CTE, many medium cells) and hand them all to nativa. So, for every backend:
- a **cell cap**: no value over `max_cell_bytes` reaches nativa, and with many columns the cap shrinks so
  that one row fits in the result budget (`max_result_bytes // columns`);
- a **result budget**: rows are fetched one at a time and counted; fetching stops, visibly marked, when
  the next row would pass `max_result_bytes`;
- a **row limit** pushed into the database (`LIMIT max_rows + 1`) where the query can be wrapped;
- **one deadline** over the whole call: the database is interrupted (`_sqlengine.deadline`) and each
  fetched row is checked against the clock, so building the result cannot run past it either.

How the cell cap is enforced differs by engine. SQLite has a per-connection length limit
(`SQLITE_LIMIT_LENGTH`) that stops any string or blob over the cap from being built at all, intermediate
values included, so an oversized value refuses the query with the limit in the message. DuckDB and
PostgreSQL have no such limit: the query is wrapped (`SELECT CASE WHEN size(c) > cap THEN NULL ELSE c END,
size(c) ... FROM (query) AS q(c1, ...) LIMIT n`) so oversized values never cross to nativa and come back as
an `OversizedValue` marker; PostgreSQL rows come through a server-side cursor, one at a time.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection, CursorResult
from sqlalchemy.exc import DBAPIError

from nativa.tools._sqlguard import CheckedSQL

DEFAULT_MAX_CELL_BYTES = 1_048_576
DEFAULT_MAX_RESULT_BYTES = 16_777_216
_SIZE_OF = {"postgresql": "octet_length(CAST({c} AS text))", "duckdb": "strlen(CAST({c} AS VARCHAR))"}


@dataclass(frozen=True, slots=True)
class Limits:
    """What one query may cost: rows, bytes per value and in total, and seconds for the whole call."""

    max_rows: int = 50
    timeout_s: float = 10.0
    max_cell_bytes: int = DEFAULT_MAX_CELL_BYTES
    max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES

    def cell_cap(self, columns: int) -> int:
        """Bytes one value may have when a row has `columns` values: one row always fits the budget."""
        return max(1, min(self.max_cell_bytes, self.max_result_bytes // max(1, columns)))


@dataclass(frozen=True, slots=True)
class OversizedValue:
    """Stands in a row for a value the database held back because it was over the cell cap."""

    size: int
    limit: int

    def __str__(self) -> str:
        return f"<cut: {self.size} bytes, over the {self.limit}-byte cell limit>"


@dataclass(slots=True)
class Fetched:
    """What a query fetched within its limits, and why it stopped early when it did."""

    columns: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    truncated: bool = False
    cut_reason: str | None = None
    rowcount: int | None = None
    cell_cap: int = DEFAULT_MAX_CELL_BYTES
    timed_out: bool = False  # the deadline passed while rows were being fetched


def run(conn: Connection, checked: CheckedSQL, backend: str, limits: Limits, deadline: float) -> Fetched:
    """Execute `checked` on `conn` and fetch within `limits`; DBAPI errors propagate to the caller."""
    names = _describe(conn, checked.sql, backend) if checked.kind == "query" and checked.wrappable else None
    cap = limits.cell_cap(len(names) if names else 1)
    if backend == "sqlite":
        return _run_sqlite(conn, checked.sql, limits, cap, deadline)
    if names:
        sql = _capped(checked.sql, len(names), cap, limits.max_rows + 1, backend)
        options = {"stream_results": True} if backend == "postgresql" else {}
        cursor = conn.execution_options(**options).exec_driver_sql(sql)
        fetched = _fetch(cursor, limits, cap, deadline, pairs=True)
        fetched.columns = names
        return fetched
    cursor = conn.exec_driver_sql(checked.sql)
    return _fetch(cursor, limits, cap, deadline)


def _describe(conn: Connection, sql: str, backend: str) -> list[str] | None:
    """The query's column names, from the query wrapped with LIMIT 0 (no row is computed). On SQLite a
    query that will not wrap gives None and then runs unwrapped, reporting its own error if it has one."""
    try:
        cursor = conn.exec_driver_sql(f"SELECT * FROM (\n{sql}\n) AS _nativa_q LIMIT 0")
        names = list(cursor.keys())
        cursor.close()
    except DBAPIError:
        if backend != "sqlite":
            raise
        return None
    return names


def _capped(sql: str, columns: int, cap: int, limit: int, backend: str) -> str:
    aliases = [f"_nativa_c{i}" for i in range(columns)]
    size = _SIZE_OF[backend]
    select = ", ".join(f"CASE WHEN {size.format(c=c)} > {cap} THEN NULL ELSE {c} END, {size.format(c=c)}"
                       for c in aliases)
    return f"SELECT {select} FROM (\n{sql}\n) AS _nativa_q({', '.join(aliases)}) LIMIT {limit}"


def _run_sqlite(conn: Connection, sql: str, limits: Limits, cap: int, deadline: float) -> Fetched:
    raw = conn.connection.dbapi_connection
    previous = raw.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, cap)  # type: ignore[union-attr]
    try:
        return _fetch(conn.exec_driver_sql(sql), limits, cap, deadline)
    finally:
        raw.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, previous)  # type: ignore[union-attr]


def _fetch(cursor: CursorResult[Any], limits: Limits, cap: int, deadline: float, *, pairs: bool = False) -> Fetched:
    fetched = Fetched(cell_cap=cap)
    if not cursor.returns_rows:
        fetched.rowcount = cursor.rowcount
        return fetched
    fetched.columns = list(cursor.keys())
    total = 0
    try:
        while True:
            if time.monotonic() > deadline:
                fetched.timed_out = True
                break
            batch = cursor.fetchmany(1)
            if not batch:
                break
            if len(fetched.rows) >= limits.max_rows:
                fetched.truncated = True
                break
            row = _unpair(tuple(batch[0]), cap) if pairs else tuple(_capped_value(v, cap) for v in batch[0])
            size = sum(size_of(v) for v in row)
            if fetched.rows and total + size > limits.max_result_bytes:
                fetched.truncated = True
                fetched.cut_reason = (f"the result was cut at the {limits.max_result_bytes}-byte limit; "
                                      "select fewer or shorter columns, or aggregate")
                break
            fetched.rows.append(row)
            total += size
    finally:
        cursor.close()
    return fetched


def _unpair(row: tuple[Any, ...], cap: int) -> tuple[Any, ...]:
    """(value, size, value, size, ...) from the wrapped query -> values, held-back ones as markers."""
    out = []
    for value, size in zip(row[0::2], row[1::2], strict=True):
        out.append(OversizedValue(int(size), cap) if value is None and size is not None and size > cap else value)
    return tuple(out)


def _capped_value(value: Any, cap: int) -> Any:
    """Client-side fallback (unwrapped statements): a value over the cap is replaced by its marker."""
    size = size_of(value)
    return OversizedValue(size, cap) if size > cap and isinstance(value, (str, bytes, bytearray)) else value


def size_of(value: Any) -> int:
    """Bytes a value costs in the result, roughly: its length for text and blobs, 16 for scalars."""
    if isinstance(value, (str, bytes, bytearray, memoryview)):
        return len(value)
    if isinstance(value, (list, tuple, dict)):
        return 16 + sum(size_of(v) for v in (value.values() if isinstance(value, dict) else value))
    return 16
