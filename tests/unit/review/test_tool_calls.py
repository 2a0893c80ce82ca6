"""Tool calls: SQL classified by the SQL tool's own parser, URLs by the run's allow-list, verdicts on spans."""

from __future__ import annotations

import json

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from nativa import tracing
from nativa.review import Policy, ReviewContext
from nativa.tools.guards import SQLRefused, check_sql

GRANTED = ReviewContext(allow_hosts=("api.example.com",))


def _found(policy: Policy, tool: str, arguments: dict[str, object],
           context: ReviewContext | None = None) -> list[tuple[str, str, str | None]]:
    return [(f.rule, f.risk, f.target) for f in policy.check_tool_call(tool, arguments, context).findings]


@pytest.mark.parametrize(("query", "expected"), [
    ("SELECT count(*) FROM orders", [("sql-read", "low", "orders")]),
    ("WITH t AS (SELECT * FROM customers) SELECT * FROM t JOIN orders ON 1",
     [("sql-read", "low", "customers"), ("sql-read", "low", "orders")]),
    ("DELETE FROM orders WHERE id = 1", [("sql-write", "high", "orders")]),
    ("INSERT INTO audit_log (x) VALUES (1)", [("sql-write", "high", "audit_log")]),
    ("DROP TABLE customers", [("sql-write", "high", "customers")]),
    ("WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d", [("sql-write", "high", "orders")]),
    ("ATTACH 'other.db' AS o", [("sql-refused", "high", None)]),
    ("SELECT 1; DROP TABLE orders", [("sql-refused", "high", None)]),
])
def test_sql_is_classified_as_the_sql_tool_would(policy: Policy, query: str, expected: list[object]) -> None:
    assert _found(policy, "sql", {"query": query}) == expected


def test_review_agrees_with_the_sql_tool_on_what_is_a_write(policy: Policy) -> None:
    for query in ("SELECT * FROM orders", "UPDATE orders SET total = 0", "PRAGMA table_info(orders)",
                  "CREATE TABLE x (a INT)", "SELECT load_extension('x')"):
        try:
            check_sql(query, "sqlite")
            tool_says = "read"
        except SQLRefused:
            tool_says = "refused-without-grant"
        rules = {f.rule for f in policy.check_tool_call("sql", {"query": query}).findings}
        assert (rules <= {"sql-read"}) == (tool_says == "read"), (query, rules)


def test_http_hosts_are_checked_against_the_allow_list(policy: Policy) -> None:
    assert _found(policy, "http", {"url": "https://api.example.com/v1"}, GRANTED) == [
        ("http-request", "low", "api.example.com")]
    assert _found(policy, "http", {"url": "https://api.example.com/v1", "method": "DELETE"}, GRANTED) == [
        ("http-write", "high", "api.example.com")]
    assert _found(policy, "http", {"url": "http://169.254.169.254/latest"}, GRANTED) == [
        ("host-not-allowed", "high", "169.254.169.254")]
    assert _found(policy, "http", {"url": "https://api.example.com.evil.net/"}, GRANTED)[0][0] == "host-not-allowed"
    assert _found(policy, "http", {"url": "file:///etc/passwd"}, GRANTED) == [("host-not-allowed", "high", None)]
    wildcard = ReviewContext(allow_hosts=("*.example.com",))
    assert _found(policy, "http", {"url": "https://v2.example.com/"}, wildcard)[0][0] == "http-request"


def test_python_tool_code_gets_the_code_policy_and_other_tools_ask(policy: Policy) -> None:
    assert _found(policy, "python", {"code": "import os\nos.system('id')\n"})[0][:2] == ("subprocess", "high")
    assert _found(policy, "mcp1_search", {"q": "x"}) == [("tool-unknown", "medium", "mcp1_search")]


def test_verdicts_go_on_review_spans(policy: Policy, spans: InMemorySpanExporter) -> None:
    policy.check_code("import socket\n")
    policy.check_tool_call("sql", {"query": "DELETE FROM orders"})
    assert tracing.force_flush(timeout_s=10.0)
    by_name = {s.name: s for s in spans.get_finished_spans()}
    code = by_name["review code"].attributes or {}
    assert code["nativa.review.max_risk"] == "high" and code["nativa.review.rules"] == ("network",)
    assert json.loads(str(code["nativa.review.findings"]))[0]["rule"] == "network"
    assert str(code["nativa.review.code_hash"]).startswith("sha256:")
    tool = by_name["review tool sql"].attributes or {}
    assert json.loads(str(tool["nativa.review.findings"])) == [
        {"rule": "sql-write", "risk": "high", "line": 0, "message": "writes to table orders", "target": "orders"}]
