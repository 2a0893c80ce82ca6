"""The static pass over tool calls: SQL through the SQL tool's own parser, URLs against the user's allow-list.

Reusing `nativa.tools.guards` means review and the tool can never disagree about what a write is: the
statement the tool would refuse without `--allow-writes` is exactly the one review calls `sql-write`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from nativa.review._config import Rules
from nativa.review.context import ReviewContext
from nativa.review.findings import Finding

CodeCheck = Callable[[str], list[Finding]]
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def tool_call_findings(rules: Rules, tool: str, arguments: Mapping[str, Any], context: ReviewContext,
                       check_code: CodeCheck) -> list[Finding]:
    """Findings for one call of `tool` with `arguments`, as the model produced them."""
    if tool == "sql":
        return _sql(rules, str(arguments.get("query", "")), context.sql_backend)
    if tool == "http":
        return _http(rules, str(arguments.get("url", "")), str(arguments.get("method") or "GET"), context)
    if tool == "python":
        return check_code(str(arguments.get("code", "")))
    return _found(rules, "tool-unknown", f"tool {tool!r} has no rule in the review policy: look at its "
                  f"arguments before it runs", tool)


def _found(rules: Rules, rule_id: str, message: str, target: str | None) -> list[Finding]:
    rule = rules.by_id(rule_id)
    return [Finding(rule_id, rule.risk, 0, message, target)] if rule.enabled else []


def _sql(rules: Rules, query: str, backend: str) -> list[Finding]:
    from nativa.tools.guards import SQLRefused, check_sql

    try:
        check_sql(query, backend, allow_writes=False)
    except SQLRefused:
        pass
    else:
        tables = _tables(query, backend, writes=False) or ["(no table)"]
        return [f for t in tables for f in _found(rules, "sql-read", f"reads table {t}", t)]
    try:
        check_sql(query, backend, allow_writes=True)
    except SQLRefused as exc:
        return _found(rules, "sql-refused", f"the SQL tool refuses this statement whatever the grants: {exc}",
                      None)
    tables = _tables(query, backend, writes=True) or ["(unknown table)"]
    return [f for t in tables for f in _found(rules, "sql-write", f"writes to table {t}", t)]


def _tables(query: str, backend: str, *, writes: bool) -> list[str]:
    """Tables the statement reads, or (writes=True) the ones its INSERT/UPDATE/DELETE/DDL nodes change."""
    import sqlglot
    from sqlglot import exp

    from nativa.tools.guards import DIALECTS, WRITE_STATEMENTS

    root = sqlglot.parse_one(query, read=DIALECTS.get(backend, "sqlite"))
    if writes:
        found = [n.find(exp.Table) for n in root.walk() if isinstance(n, WRITE_STATEMENTS)]
        tables = [t for t in found if t is not None]
    else:
        ctes = {c.alias_or_name.lower() for c in root.find_all(exp.CTE)}
        tables = [t for t in root.find_all(exp.Table) if t.name.lower() not in ctes]
    names = {(f"{t.db}.{t.name}" if t.db else t.name).lower() for t in tables if t.name}
    return sorted(names)


def _http(rules: Rules, url: str, method: str, context: ReviewContext) -> list[Finding]:
    try:
        parts = urlsplit(url.strip())
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        parts, port = None, 0
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return _found(rules, "host-not-allowed", f"{url[:200]!r} is not an http(s) URL with a host", None)
    host = parts.hostname.lower()
    if not context.host_allowed(host, port):
        granted = ", ".join(context.allow_hosts) or "none"
        return _found(rules, "host-not-allowed", f"{method.upper()} to {host}, which is not on the run's "
                      f"allow-list (granted: {granted})", host)
    if method.upper() in _WRITE_METHODS:
        return _found(rules, "http-write", f"{method.upper()} to {host} changes data on that host", host)
    return _found(rules, "http-request", f"{method.upper()} from {host}, which the run's allow-list grants", host)
