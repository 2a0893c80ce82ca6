"""Parse a SQL string before it reaches the database and refuse what the user did not allow.

This is the second wall: the database itself is opened read-only (see `_sqlengine`), and the parser says
*why* a statement is refused, in words the model can act on. It is an allow-list, not a deny-list: without
writes granted, a statement must be exactly one query (SELECT, set operations, VALUES) with no write,
file, lock or session-changing node anywhere inside it, so writes hidden in CTEs, `SELECT ... INTO`, or
a second statement after a semicolon are all refused. Functions that touch files, extensions, sequences
or server state are refused by name whatever the grant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from nativa.errors import SQLRefused, SQLRefusedError  # noqa: F401 - defined in nativa.errors, importable from here as before

DIALECTS = {"sqlite": "sqlite", "postgresql": "postgres", "duckdb": "duckdb"}


@dataclass(frozen=True, slots=True)
class CheckedSQL:
    """One statement the guard let through, with its kind (query or write)."""

    sql: str
    kind: str  # "query" | "write"
    wrappable: bool = False  # a query that can stand as a subquery (not a PRAGMA), so limits can wrap it


_QUERY_ROOTS = (exp.Select, exp.SetOperation, exp.Subquery, exp.Values)
_WRITE_ROOTS = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter, exp.TruncateTable)
# Never allowed, writes granted or not: file access, extensions, privileges, session and transaction control.
_ALWAYS_REFUSED: dict[type[exp.Expression], str] = {
    exp.Attach: "ATTACH opens another database file",
    exp.Detach: "DETACH changes the attached databases",
    exp.Copy: "COPY reads or writes files",
    exp.LoadData: "LOAD DATA reads files",
    exp.Install: "INSTALL adds an extension",
    exp.Set: "SET changes session settings (such as the read-only mode)",
    exp.Transaction: "transaction control is managed by nativa",
    exp.Commit: "transaction control is managed by nativa",
    exp.Rollback: "transaction control is managed by nativa",
    exp.Grant: "GRANT changes privileges",
    exp.Revoke: "REVOKE changes privileges",
    exp.Use: "USE switches the database",
    exp.Kill: "KILL ends other sessions",
    exp.Command: "this statement is not one nativa can check",
}
_READ_ONLY_REFUSED: dict[type[exp.Expression], str] = {
    exp.Insert: "INSERT writes rows", exp.Update: "UPDATE writes rows", exp.Delete: "DELETE removes rows",
    exp.Merge: "MERGE writes rows", exp.Create: "CREATE changes the schema", exp.Drop: "DROP removes objects",
    exp.Alter: "ALTER changes the schema", exp.TruncateTable: "TRUNCATE removes rows",
    exp.Into: "SELECT ... INTO creates a table", exp.Lock: "FOR UPDATE/SHARE locks rows",
    exp.Analyze: "ANALYZE writes statistics",
}
_REFUSED_FUNCTIONS = frozenset({
    # SQLite
    "load_extension", "readfile", "writefile", "edit", "fts3_tokenizer",
    # PostgreSQL: files, server control, sequences (nextval writes), settings, remote links
    "pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file", "pg_ls_logdir", "pg_ls_waldir",
    "lo_import", "lo_export", "lo_create", "lo_unlink", "lo_put", "lo_from_bytea", "pg_terminate_backend",
    "pg_cancel_backend", "pg_reload_conf", "pg_rotate_logfile", "pg_promote", "set_config", "nextval",
    "setval", "pg_advisory_lock", "pg_advisory_xact_lock", "dblink", "dblink_exec", "pg_sleep",
    "query_to_xml", "query_to_json", "pg_switch_wal", "pg_create_restore_point",
    # DuckDB: readers of local files and other databases
    "read_csv", "read_csv_auto", "read_parquet", "parquet_scan", "read_json", "read_json_auto",
    "read_ndjson", "read_json_objects", "read_text", "read_blob", "glob", "sqlite_scan", "sqlite_attach",
    "postgres_scan", "postgres_attach", "mysql_scan", "read_xlsx", "iceberg_scan", "delta_scan",
})
READ_PRAGMAS = ("table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
                "foreign_key_list")
_PRAGMA_NAME = re.compile(r"^\s*pragma\s+(?:\w+\s*\.\s*)?(\w+)", re.IGNORECASE)
HINT = "only one read-only query per call (SELECT ... ; WITH ... SELECT ...)"
MAX_SQL_CHARS = 100_000  # a query a model writes is short; a megabyte of SQL is an attack on the parser


def check_sql(sql: str, backend: str, *, allow_writes: bool = False) -> CheckedSQL:
    """The statement (trailing semicolon removed) if allowed; otherwise `SQLRefusedError` saying why."""
    if not isinstance(sql, str) or not sql.strip():
        raise SQLRefusedError(f"the SQL statement is empty; send {HINT}")
    if len(sql) > MAX_SQL_CHARS:
        raise SQLRefusedError(f"the SQL statement is {len(sql)} characters; at most {MAX_SQL_CHARS} are accepted")
    dialect = DIALECTS.get(backend)
    if dialect is None:
        raise SQLRefusedError(f"unsupported database backend {backend!r}; valid: {', '.join(DIALECTS)}")
    try:
        parsed = [e for e in sqlglot.parse(sql, read=dialect) if e is not None and not isinstance(e, exp.Semicolon)]
    except RecursionError:
        raise SQLRefusedError("the SQL is nested too deeply to check; write it with fewer nested parentheses") from None
    except (ParseError, TokenError) as exc:
        first = str(exc).splitlines()[0][:300]
        raise SQLRefusedError(f"the SQL could not be parsed ({first}); check the syntax ({dialect} dialect)") from None
    if not parsed:
        raise SQLRefusedError(f"the SQL statement is empty (only comments or semicolons); send {HINT}")
    if len(parsed) > 1:
        kinds = ", ".join(_label(e) for e in parsed)
        raise SQLRefusedError(f"the SQL has {len(parsed)} statements ({kinds}); send one statement per call")
    root = parsed[0]
    kind = _check_root(root, sql, allow_writes)
    _check_nodes(root, allow_writes)
    return CheckedSQL(sql=_strip_semicolons(sql), kind=kind, wrappable=isinstance(root, _QUERY_ROOTS))


def _check_root(root: exp.Expression, sql: str, allow_writes: bool) -> str:
    if isinstance(root, exp.Pragma):
        name_match = _PRAGMA_NAME.match(sql)
        name = name_match.group(1).lower() if name_match else "?"
        if name in READ_PRAGMAS and "=" not in sql:
            return "query"
        raise SQLRefusedError(f"PRAGMA {name} is refused: only these read-only PRAGMAs are allowed: "
                         f"{', '.join(READ_PRAGMAS)} (e.g. PRAGMA table_info(orders))")
    if isinstance(root, _QUERY_ROOTS):
        return "query"
    if isinstance(root, _WRITE_ROOTS):
        if allow_writes:
            return "write"
        reason = _READ_ONLY_REFUSED.get(type(root)) or _READ_ONLY_REFUSED.get(_base(root, _READ_ONLY_REFUSED), "")
        raise SQLRefusedError(f"{_label(root)} is refused: the database is read-only ({reason}); {HINT}. "
                         "Writes need the user's explicit grant (--allow-writes).")
    reason = _ALWAYS_REFUSED.get(type(root)) or _ALWAYS_REFUSED.get(_base(root, _ALWAYS_REFUSED), "")
    detail = f" ({reason})" if reason else ""
    raise SQLRefusedError(f"{_label(root)} is refused{detail}; {HINT}")


def _check_nodes(root: exp.Expression, allow_writes: bool) -> None:
    for node in root.walk():
        base = _base(node, _ALWAYS_REFUSED)
        if base is not None and node is not root:
            raise SQLRefusedError(f"{_label(node)} inside the statement is refused ({_ALWAYS_REFUSED[base]}); {HINT}")
        if not allow_writes and node is not root:
            base = _base(node, _READ_ONLY_REFUSED)
            if base is not None:
                where = " in a CTE" if node.find_ancestor(exp.CTE) is not None else ""
                raise SQLRefusedError(f"{_label(node)}{where} is refused: the database is read-only "
                                 f"({_READ_ONLY_REFUSED[base]}); {HINT}")
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name in _REFUSED_FUNCTIONS:
                raise SQLRefusedError(f"function {name}() is refused: it reads files, changes server state or "
                                 f"writes; use plain SQL over the database's tables")


def _base(node: exp.Expression, table: dict[type[exp.Expression], str]) -> type[exp.Expression] | None:
    for cls in type(node).__mro__:
        if cls in table:
            return cls
    return None


def _label(node: exp.Expression) -> str:
    if isinstance(node, exp.Command):
        return str(node.this).upper() or "command"
    if isinstance(node, exp.Into):
        return "SELECT ... INTO"
    if isinstance(node, exp.Lock):
        return "FOR UPDATE"
    if isinstance(node, exp.Create):
        return f"CREATE {node.kind or ''}".strip()
    if isinstance(node, exp.Drop):
        return f"DROP {node.kind or ''}".strip()
    if isinstance(node, exp.TruncateTable):
        return "TRUNCATE"
    return type(node).__name__.upper()


def _strip_semicolons(sql: str) -> str:
    text = sql.strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    return text
