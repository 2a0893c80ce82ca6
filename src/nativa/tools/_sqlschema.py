"""Describe a database for a prompt: tables, columns, types, keys, a few sample rows, and small value sets.

A small model writes correct SQL only when it can see the exact names and what the values look like: the
date format in a sample row, or that `status` is one of 'completed', 'cancelled', 'returned'. All of it
is read through the same read-only engine the queries use, and kept short, because every token of the
schema is paid for again at every step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

MAX_DISTINCT = 8  # text columns with at most this many values list them all
CELL_CHARS = 32


@dataclass(slots=True)
class ColumnInfo:
    """One column as the model is shown it: type, key, what it references, and its values when few."""

    name: str
    type: str
    primary_key: bool = False
    references: str | None = None  # "customers.id"
    values: list[str] | None = None  # every value, for low-cardinality text columns


@dataclass(slots=True)
class TableInfo:
    """One table as the model is shown it: its columns, row count and a few sample rows."""

    name: str
    columns: list[ColumnInfo] = field(default_factory=list)
    row_count: int | None = None
    samples: list[tuple[Any, ...]] = field(default_factory=list)


@dataclass(slots=True)
class SchemaInfo:
    """The database as the model is shown it, and the words that route a request to SQL."""

    backend: str
    tables: list[TableInfo] = field(default_factory=list)

    def keywords(self) -> set[str]:
        """Table and column names and their parts (`order_items` gives order_items, order, items), lower case."""
        words: set[str] = set()
        for t in self.tables:
            for name in [t.name, *(c.name for c in t.columns)]:
                lowered = name.lower()
                words.add(lowered)
                words.update(p for p in lowered.split("_") if len(p) > 2)
        return words

    def to_prompt(self) -> str:
        """Compact text, one block per table: columns with types and keys, row count, value sets, samples."""
        lines: list[str] = []
        for t in self.tables:
            cols = []
            for c in t.columns:
                text = f"{c.name} {c.type}"
                if c.primary_key:
                    text += " PK"
                if c.references:
                    text += f" -> {c.references}"
                cols.append(text)
            count = f", {t.row_count} rows" if t.row_count is not None else ""
            lines.append(f"TABLE {t.name} ({', '.join(cols)}){count}")
            for c in t.columns:
                if c.values:
                    lines.append(f"  {c.name} values: {', '.join(repr(v) for v in c.values)}")
            for row in t.samples:
                lines.append("  example: (" + ", ".join(_cell(v) for v in row) + ")")
        return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, str):
        text = value if len(value) <= CELL_CHARS else value[: CELL_CHARS - 1] + "…"
        return repr(text)
    return "NULL" if value is None else str(value)


def introspect(engine: Engine, backend: str, *, sample_rows: int = 2, max_tables: int = 30) -> SchemaInfo:
    """Read the schema through `engine`; a table whose rows cannot be read is listed with its columns only."""
    info = SchemaInfo(backend=backend)
    quote = engine.dialect.identifier_preparer.quote
    with engine.connect() as conn:
        tables = _structure_duckdb(conn) if backend == "duckdb" else _structure(engine)
        for table in tables[:max_tables]:
            qtable = quote(table.name)
            try:
                table.row_count = int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {qtable}").scalar() or 0)
                if sample_rows:
                    rows = conn.exec_driver_sql(f"SELECT * FROM {qtable} LIMIT {int(sample_rows)}").fetchall()
                    table.samples = [tuple(r) for r in rows]
                for col in table.columns:
                    if _is_text(col.type) and not col.primary_key:
                        values = conn.exec_driver_sql(
                            f"SELECT DISTINCT {quote(col.name)} FROM {qtable} "
                            f"WHERE {quote(col.name)} IS NOT NULL LIMIT {MAX_DISTINCT + 1}").fetchall()
                        if 0 < len(values) <= MAX_DISTINCT and table.row_count > 2 * len(values):
                            col.values = sorted(str(v[0]) for v in values)
            except SQLAlchemyError:
                conn.rollback()
            info.tables.append(table)
        conn.rollback()
    return info


def _structure(engine: Engine) -> list[TableInfo]:
    """Tables, columns, primary and foreign keys through SQLAlchemy's inspector (SQLite, PostgreSQL)."""
    inspector = sa_inspect(engine)
    tables = []
    for name in sorted(inspector.get_table_names()):
        try:
            pk = set((inspector.get_pk_constraint(name) or {}).get("constrained_columns") or [])
        except (SQLAlchemyError, NotImplementedError):
            pk = set()
        refs: dict[str, str] = {}
        try:
            for fk in inspector.get_foreign_keys(name):
                for local, remote in zip(fk["constrained_columns"], fk["referred_columns"], strict=False):
                    refs[local] = f"{fk['referred_table']}.{remote}"
        except (SQLAlchemyError, NotImplementedError):
            pass
        columns = [ColumnInfo(name=c["name"], type=_type_name(c["type"]), primary_key=c["name"] in pk,
                              references=refs.get(c["name"])) for c in inspector.get_columns(name)]
        tables.append(TableInfo(name=name, columns=columns))
    return tables


def _structure_duckdb(conn: Any) -> list[TableInfo]:
    """DuckDB through its own catalog: duckdb-engine's reflection queries PostgreSQL tables DuckDB lacks."""
    rows = conn.exec_driver_sql(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position").fetchall()
    keys = conn.exec_driver_sql(
        "SELECT table_name, constraint_type, constraint_column_names, referenced_table, referenced_column_names "
        "FROM duckdb_constraints() WHERE constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY')").fetchall()
    pks = {(t, c) for t, kind, cols, _, _ in keys if kind == "PRIMARY KEY" for c in cols}
    refs = {(t, c): f"{rt}.{rc}" for t, kind, cols, rt, rcols in keys if kind == "FOREIGN KEY"
            for c, rc in zip(cols, rcols, strict=False)}
    tables: dict[str, TableInfo] = {}
    for table, column, dtype in rows:
        tables.setdefault(table, TableInfo(name=table)).columns.append(ColumnInfo(
            name=column, type=str(dtype), primary_key=(table, column) in pks, references=refs.get((table, column))))
    return [tables[name] for name in sorted(tables)]


def _type_name(sa_type: Any) -> str:
    try:
        return str(sa_type).split("(")[0] or "ANY"
    except Exception:  # noqa: BLE001 - some dialect types cannot render without a dialect
        return type(sa_type).__name__.upper()


def _is_text(type_name: str) -> bool:
    upper = type_name.upper()
    return any(t in upper for t in ("CHAR", "TEXT", "STRING", "CLOB")) or upper == "VARCHAR"
