"""Schema introspection for the prompt, compact results, repair hints, and DuckDB read-only."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from nativa.data import SAMPLE_DB, sample_db_url
from nativa.tools.sql import QueryResult, SQLDatabase, SQLRefused, format_cell


@pytest.fixture(scope="module")
def sample() -> SQLDatabase:
    return SQLDatabase(sample_db_url())


def test_schema_prompt_has_tables_columns_types_keys_samples_and_value_sets(sample: SQLDatabase) -> None:
    text = sample.as_tool().context() or ""
    assert text.startswith("Database (sqlite):")
    assert ("TABLE orders (id INTEGER PK, customer_id INTEGER -> customers.id, order_date DATE, status TEXT, "
            "total REAL), 4199 rows") in text
    assert "status values: 'cancelled', 'completed', 'returned'" in text
    assert "region values: 'Central', 'East', 'North', 'South', 'West'" in text
    assert "example: (1, 171, '2021-01-02', 'completed', 211.49)" in text
    assert "JOIN customers ON customers.id = orders.customer_id" in text
    assert "email values" not in text  # high-cardinality text is not enumerated
    assert {"customers", "orders", "order_items", "region", "category"} <= sample.as_tool().keywords()


def test_results_are_a_compact_table(sample: SQLDatabase) -> None:
    result = sample.query("SELECT category, COUNT(*) AS n, AVG(unit_price) AS avg FROM products "
                          "GROUP BY category ORDER BY category LIMIT 2")
    assert result.to_observation() == ("category | n | avg\nElectronics | 8 | 404.9237\nFurniture | 6 | 228.25\n"
                                       "(2 rows)")
    assert format_cell(None) == "NULL" and format_cell(2.50) == "2.5" and format_cell(-0.0) == "0"
    assert format_cell("x" * 100).endswith("…") and len(format_cell("x" * 100)) == 80
    assert QueryResult(sql="", rowcount=3).to_observation() == "OK, 3 rows affected"


@pytest.mark.parametrize(("query", "hint"), [
    ("SELECT region FROM orders GROUP BY region",
     "column region is in table customers; add JOIN customers ON customers.id = orders.customer_id"),
    ("SELECT T2.total FROM orders AS T1 JOIN order_items AS T2 ON T1.id = T2.order_id",
     "column total is in table orders, which your query calls T1: use T1.total"),
    ("SELECT year(order_date) FROM orders", "SQLite has no YEAR(); use strftime('%Y', column) = '2024'"),
    ("SELECT * FROM sales", "the tables are: customers, order_items, orders, products"),
    ("SELECT name FROM customers ORDER BY COUNT(*) DESC", "aggregates (COUNT, SUM) need GROUP BY"),
    ("SELECT colour FROM products", "there is no column colour; the tables and columns are: customers(id, name,"),
    ("SELECT SUM(quantity * unit_price) FROM products AS p JOIN order_items AS oi ON p.id = oi.product_id",
     "unit_price is a column of order_items and products; write oi.unit_price (or the other table's)"),
])
def test_sql_errors_come_back_with_a_repair_hint(sample: SQLDatabase, query: str, hint: str) -> None:
    result = sample.as_tool().call({"query": query})
    assert not result.ok and result.error_type == "SQLExecutionError"
    assert result.observation.startswith("Error (SQLExecutionError): SQL error: ")
    assert f"Hint: {hint}" in result.observation


def test_sample_database_is_deterministic_and_small(tmp_path: Path) -> None:
    from nativa.data.generate import build

    build(tmp_path / "again.db")
    assert (tmp_path / "again.db").read_bytes() == SAMPLE_DB.read_bytes()  # same seed, same bytes
    assert SAMPLE_DB.stat().st_size < 5_000_000
    conn = sqlite3.connect(f"file:{SAMPLE_DB}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # opens read-only anywhere
        years = [r[0] for r in conn.execute("SELECT DISTINCT strftime('%Y', order_date) FROM orders ORDER BY 1")]
        assert years == ["2021", "2022", "2023", "2024"]
        bad = conn.execute("SELECT COUNT(*) FROM orders o WHERE abs(o.total - (SELECT SUM(quantity * unit_price) "
                           "FROM order_items i WHERE i.order_id = o.id)) > 0.01").fetchone()
        assert bad == (0,)  # order totals agree with their line items
    finally:
        conn.close()


def test_duckdb_is_read_only_and_cannot_reach_files(tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    path = tmp_path / "shop.duckdb"
    conn = duckdb.connect(str(path))
    conn.execute("CREATE TABLE vendors (id INTEGER PRIMARY KEY, region VARCHAR); "
                 "CREATE TABLE items (id INTEGER, name VARCHAR, vendor_id INTEGER REFERENCES vendors(id)); "
                 "INSERT INTO vendors VALUES (1, 'North'), (2, 'South'); "
                 "INSERT INTO items VALUES (1, 'a', 1), (2, 'b', 2), (3, 'a', 1), (4, 'a', 2), (5, 'b', 1)")
    conn.close()
    (tmp_path / "secret.csv").write_text("x\n42\n")
    before = path.read_bytes()
    db = SQLDatabase(f"duckdb:///{path}")
    try:
        assert "TABLE items (id INTEGER, name VARCHAR, vendor_id INTEGER -> vendors.id), 5 rows" in (
            db.as_tool().context() or "")
        assert db.query("SELECT COUNT(*) FROM items").rows == [(5,)]
        for statement in ["INSERT INTO items VALUES (6, 'c', 1)", "CREATE TABLE t (a INT)",
                          f"SELECT * FROM read_csv_auto('{tmp_path}/secret.csv')", "COPY items TO 'out.csv'",
                          "ATTACH 'other.duckdb'", "INSTALL httpfs"]:
            with pytest.raises(SQLRefused):
                db.query(statement)
        # the database's own wall, with the parser bypassed
        raw = db.engine.raw_connection()
        try:
            for statement in ["INSERT INTO items VALUES (6, 'c', 1)", f"SELECT * FROM '{tmp_path}/secret.csv'",
                              f"COPY items TO '{tmp_path}/out.csv'"]:
                with pytest.raises(duckdb.Error):
                    raw.cursor().execute(statement)
        finally:
            raw.close()
        observation = db.as_tool().call({"query": f"SELECT * FROM '{tmp_path}/secret.csv'"}).observation
        assert "file system operations are disabled" in observation
    finally:
        db.close()
    assert path.read_bytes() == before and not (tmp_path / "out.csv").exists()
