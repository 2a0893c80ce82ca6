"""The SQL tool: one query at a time against SQLite (default), DuckDB or PostgreSQL, read-only by default.

    db = SQLDatabase("sqlite:///sales.db")            # read-only unless allow_writes=True
    db.schema().to_prompt()                            # tables, columns, types, keys, samples for the prompt
    db.query("SELECT region, COUNT(*) FROM customers GROUP BY region").to_observation()
    tool = db.as_tool()                                # Tool "sql" for an agent

Read-only holds twice: `_sqlguard` parses each statement (sqlglot) and refuses, with the reason, anything
but one query; `_sqlengine` opens the database so that it refuses writes itself. Results come back as a
compact text table with a row limit, a byte cap per value and per result, and one time limit over the whole
call (`_sqlfetch`). A SQL error is a `ToolError` whose message the agent feeds back, so the model can repair
its query like it repairs code.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from nativa.errors import SQLExecutionError
from nativa.tools import _sqlfetch
from nativa.tools._sqlengine import EngineLimits, backend_of, deadline, open_engine
from nativa.tools._sqlfetch import DEFAULT_MAX_CELL_BYTES, DEFAULT_MAX_RESULT_BYTES, Limits, OversizedValue
from nativa.tools._sqlguard import DIALECTS, SQLRefused, SQLRefusedError, check_sql
from nativa.tools._sqlschema import SchemaInfo, introspect
from nativa.tools.base import Tool, ToolError

CELL_CHARS = 80


@dataclass(slots=True)
class QueryResult:
    """Rows of one query (at most `max_rows`, within the byte budget), or the row count of a granted write.

    `truncated` says rows were left out; `cut_reason` says why when it was the byte budget rather than the
    row limit. A value over the cell cap stands in `rows` as an `OversizedValue` marker.
    """

    sql: str
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    truncated: bool = False
    rowcount: int | None = None
    duration_s: float = 0.0
    cut_reason: str | None = None

    def to_observation(self) -> str:
        """`a | b` header, one line per row, and the count: compact, so small models can read it."""
        if not self.columns:
            return f"OK, {self.rowcount if self.rowcount is not None and self.rowcount >= 0 else 'unknown'} rows affected"
        lines = [" | ".join(self.columns)]
        lines += [" | ".join(format_cell(v) for v in row) for row in self.rows]
        n = len(self.rows)
        if self.cut_reason:
            tail = f"({n} row{'s' if n != 1 else ''}; {self.cut_reason})"
        elif self.truncated:
            tail = f"({n} rows; more rows exist, only the first {n} are shown)"
        else:
            tail = f"({n} row{'s' if n != 1 else ''})"
        return "\n".join(lines + [tail])

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON, every cell formatted as the model saw it, so the CLI and a caller agree."""
        return {"sql": self.sql, "columns": self.columns, "rows": [[format_cell(v) for v in r] for r in self.rows],
                "truncated": self.truncated, "rowcount": self.rowcount, "duration_s": self.duration_s,
                "cut_reason": self.cut_reason}


def format_cell(value: Any) -> str:
    """Floats to at most 4 decimals (sums of REALs carry binary noise), long text cut, NULL spelled out."""
    if value is None:
        return "NULL"
    if isinstance(value, OversizedValue):
        return str(value)
    if isinstance(value, float):
        text = f"{value:.4f}".rstrip("0").rstrip(".")
        return text if text not in ("-0", "") else "0"
    if isinstance(value, decimal.Decimal):
        return format_cell(float(value)) if value != value.to_integral_value() else str(value.to_integral_value())
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    text = str(value).replace("\n", " ")
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


class SQLDatabase:
    """A database the agent may query; holds one engine, opened read-only unless writes were granted."""

    def __init__(self, url: str, *, allow_writes: bool = False, max_rows: int = 50, timeout_s: float = 10.0,
                 sample_rows: int = 2, max_cell_bytes: int = DEFAULT_MAX_CELL_BYTES,
                 max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES, memory_limit_mb: int = 512,
                 threads: int = 2) -> None:
        self.url = url
        self.backend = backend_of(url)
        self.allow_writes = allow_writes
        self.max_rows = max_rows
        self.timeout_s = timeout_s
        self.sample_rows = sample_rows
        self.limits = Limits(max_rows=max_rows, timeout_s=timeout_s, max_cell_bytes=max_cell_bytes,
                             max_result_bytes=max_result_bytes)
        self.engine_limits = EngineLimits(timeout_s=timeout_s, max_value_bytes=max_cell_bytes,
                                          memory_limit_mb=memory_limit_mb, threads=threads)
        self._engine: Engine | None = None
        self._schema: SchemaInfo | None = None
        self.engine  # noqa: B018 - open now, so a bad URL or missing file fails at construction

    @property
    def dialect(self) -> str:
        """The sqlglot / prompt name of the SQL dialect (`sqlite`, `postgres`, `duckdb`)."""
        return DIALECTS[self.backend]

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, opened on first use (read-only unless `allow_writes`), so building the
        tool costs no connection."""
        if self._engine is None:
            self._engine, _ = open_engine(self.url, allow_writes=self.allow_writes, timeout_s=self.timeout_s,
                                          limits=self.engine_limits)
        return self._engine

    def schema(self) -> SchemaInfo:
        """Introspected once and cached: the prompt shows the same schema at every step."""
        if self._schema is None:
            try:
                self._schema = introspect(self.engine, self.backend, sample_rows=self.sample_rows)
            except SQLAlchemyError as exc:
                raise SQLExecutionError(f"cannot read the schema of {self.url}: {_db_message(exc)}") from None
        return self._schema

    def check(self, sql: str) -> str:
        """The statement as it will run, or `SQLRefusedError` saying why not."""
        return check_sql(sql, self.backend, allow_writes=self.allow_writes).sql

    def query(self, sql: str) -> QueryResult:
        """Check, run and fetch within the limits, all under one deadline; errors become `ToolError`s."""
        start = time.perf_counter()
        ends = time.monotonic() + self.timeout_s  # the whole call: checking, running and building the result
        checked = check_sql(sql, self.backend, allow_writes=self.allow_writes)
        limits = dataclasses.replace(self.limits, max_rows=self.max_rows, timeout_s=self.timeout_s)
        with self.engine.connect() as conn:
            dbapi_conn = conn.connection.dbapi_connection
            with deadline(dbapi_conn, max(0.0, ends - time.monotonic())) as fired:
                try:
                    fetched = _sqlfetch.run(conn, checked, self.backend, limits, ends)
                    if checked.kind == "write" and not fetched.timed_out:
                        conn.commit()
                    else:
                        conn.rollback()
                except DBAPIError as exc:
                    conn.rollback()
                    if fired.is_set():
                        raise self._timeout() from None
                    message = _db_message(exc)
                    limit = _limit_message(message, self.limits, self.engine_limits)
                    if limit:
                        raise SQLExecutionError(limit) from None
                    hint = self._hint(message, checked.sql)
                    raise SQLExecutionError(f"SQL error: {message}" + (f"\nHint: {hint}" if hint else "")) from None
        if fetched.timed_out or time.monotonic() > ends:
            raise self._timeout()
        return QueryResult(sql=checked.sql, columns=fetched.columns, rows=fetched.rows, truncated=fetched.truncated,
                           rowcount=fetched.rowcount, duration_s=time.perf_counter() - start,
                           cut_reason=fetched.cut_reason)

    def _timeout(self) -> SQLExecutionError:
        return SQLExecutionError(f"the query ran longer than the {self.timeout_s:g} s limit and was stopped; "
                                 "make it cheaper (filter earlier, aggregate, add a LIMIT)")

    def _hint(self, message: str, sql: str) -> str | None:
        """Where the missing column or table really is, or the dialect's spelling of a missing function."""
        try:
            schema = self.schema()
        except ToolError:
            return None
        return error_hint(message, schema, self.backend, sql)

    def as_tool(self, name: str = "sql") -> Tool:
        """The `sql` tool: `query` in, a text table out; the schema goes into the agent's prompt."""
        database = self
        dialect = self.dialect

        def sql(query: str) -> QueryResult:
            """Run one read-only SQL query on the database and return the result rows.

            Args:
                query: one SQL SELECT statement
            """
            return database.query(query)

        mode = "read-write" if self.allow_writes else "read-only"
        description = f"Run one {mode} SQL query ({dialect} dialect) on the database and get the rows."
        return Tool.from_function(sql, name=name, description=description, kind="sql", close=self.close,
                                  context=lambda: f"Database ({dialect}):\n" + self.schema().to_prompt()
                                  + _notes(self.backend, self.schema()),
                                  keywords=lambda: self.schema().keywords())

    def close(self) -> None:
        """Dispose of the engine and its connections; a later query opens a new one."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


_SQLITE_FUNCTIONS = {
    "year": "strftime('%Y', column) = '2024'", "month": "strftime('%m', column) = '03'",
    "day": "strftime('%d', column)", "extract": "strftime('%Y', column)", "date_part": "strftime('%Y', column)",
    "date_trunc": "strftime('%Y-%m', column)", "now": "date('now')", "getdate": "date('now')",
    "datediff": "julianday(a) - julianday(b)", "concat": "a || b", "if": "CASE WHEN ... THEN ... ELSE ... END",
    "isnull": "coalesce(a, b)", "len": "length(x)", "top": "ORDER BY ... LIMIT n",
}


def error_hint(message: str, schema: SchemaInfo, backend: str, sql: str = "") -> str | None:
    """A one-line repair hint for the commonest mistakes of small models, from the real schema and the query."""
    lowered = message.lower()
    column = _after(lowered, ("no such column: ", "column \"", "referenced column \"", "column "))
    if column and ("no such column" in lowered or "does not exist" in lowered or "not found" in lowered):
        bare = column.split(".")[-1].strip('"` ')
        owners = [t.name for t in schema.tables if any(c.name.lower() == bare for c in t.columns)]
        if owners:
            return _column_hint(bare, owners, schema, sql, backend)
        return f"there is no column {bare}; the tables and columns are: " + "; ".join(
            f"{t.name}({', '.join(c.name for c in t.columns)})" for t in schema.tables)
    ambiguous = _after(lowered, ("ambiguous column name: ", "column reference \""))
    if ambiguous and "ambiguous" in lowered:
        bare = ambiguous.split(".")[-1].strip('"` ')
        owners = [t.name for t in schema.tables if any(c.name.lower() == bare for c in t.columns)]
        used = _tables_in(sql, backend)
        names = [used.get(o, o) for o in owners if o in used] or owners
        return f"{bare} is a column of {' and '.join(owners)}; write {names[0]}.{bare} (or the other table's)"
    if "misuse of aggregate" in lowered or "must appear in the group by" in lowered:
        return ("aggregates (COUNT, SUM) need GROUP BY, e.g. SELECT a.x, COUNT(*) AS n FROM a JOIN b ON b.a_id = a.id "
                "GROUP BY a.x ORDER BY n DESC LIMIT 1")
    if "no such table" in lowered or ("table" in lowered and "does not exist" in lowered):
        return "the tables are: " + ", ".join(t.name for t in schema.tables)
    function = _after(lowered, ("no such function: ",))
    if function and backend == "sqlite":
        spelled = _SQLITE_FUNCTIONS.get(function.strip().lower())
        if spelled:
            return f"SQLite has no {function.upper()}(); use {spelled}"
    return None


def _column_hint(column: str, owners: list[str], schema: SchemaInfo, sql: str, backend: str) -> str:
    """Name the table that has the column, its alias in the query, or the join that brings it in."""
    used = _tables_in(sql, backend)  # table -> alias as written in the query
    for owner in owners:
        if owner in used:
            return f"column {column} is in table {owner}, which your query calls {used[owner]}: use {used[owner]}.{column}"
    for t in schema.tables:  # a foreign key between a table of the query and an owner
        for c in t.columns:
            if not c.references:
                continue
            ref_table, ref_col = c.references.split(".", 1)
            if t.name in used and ref_table in owners:
                return (f"column {column} is in table {ref_table}; add JOIN {ref_table} ON {ref_table}.{ref_col} = "
                        f"{used[t.name]}.{c.name}")
            if ref_table in used and t.name in owners:
                return (f"column {column} is in table {t.name}; add JOIN {t.name} ON {t.name}.{c.name} = "
                        f"{used[ref_table]}.{ref_col}")
    return f"column {column} is in table {' and '.join(owners)}; join that table (see the Joins line)"


def _tables_in(sql: str, backend: str) -> dict[str, str]:
    try:
        import sqlglot
        from sqlglot import exp

        tree = sqlglot.parse_one(sql, read=DIALECTS.get(backend, "sqlite"))
    except Exception:  # noqa: BLE001 - a hint is best effort
        return {}
    return {t.name: (t.alias or t.name) for t in tree.find_all(exp.Table) if t.name}


def _after(text: str, markers: tuple[str, ...]) -> str | None:
    for marker in markers:
        i = text.find(marker)
        if i >= 0:
            rest = text[i + len(marker):]
            return rest.split('"')[0].split()[0] if rest.split() else None
    return None


def _notes(backend: str, schema: SchemaInfo) -> str:
    """Dialect facts small models get wrong, with a real date column of this database as the example."""
    joins = [f"JOIN {c.references.split('.')[0]} ON {c.references} = {t.name}.{c.name}"
             for t in schema.tables for c in t.columns if c.references]
    text = ("\nJoins: " + "; ".join(joins)) if joins else ""

    if backend == "sqlite":
        dates = [c.name for t in schema.tables for c in t.columns if "DATE" in c.type.upper() or "TIME" in c.type.upper()]
        col = dates[-1] if dates else "date_column"
        text += f"\nSQLite: dates are text 'YYYY-MM-DD'; there is no YEAR(): use strftime('%Y', {col}) = '2024'."
    return text


def _limit_message(message: str, limits: Limits, engine: EngineLimits) -> str | None:
    """The database refused because a cap of ours was reached: say which, and how to stay under it."""
    lowered = message.lower()
    if "string or blob too big" in lowered:
        return (f"a value in this query is larger than the {limits.max_cell_bytes}-byte limit per value (fewer "
                "when a row has many columns) and SQLite refused to build it (string or blob too big); select "
                "part of it (substr(col, 1, 200)), its length(col), or fewer columns")
    if "out of memory" in lowered:
        return (f"the query needed more memory than the database may use (limit {engine.memory_limit_mb} MB) and "
                f"was stopped ({message[:200]}); filter earlier, aggregate, or select fewer columns")
    return None


def _db_message(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    text = text.split("\n[SQL:")[0].split("\n(Background on this error")[0]
    if "not authorized" in text:
        text += " (the database is opened read-only; only reading queries are allowed)"
    if "readonly" in text.replace("-", "").replace(" ", "").lower():
        text += " (the database is read-only)"
    return text[:500]


__all__ = ["QueryResult", "SQLDatabase", "SQLExecutionError", "SQLRefused", "SQLRefusedError", "format_cell"]
