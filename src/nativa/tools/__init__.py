"""Tools: typed functions a model may call. The model is the brain; tools do the work.

    from nativa.tools import tool, Tool, ToolResult, build_tools

    @tool
    def add(a: int, b: int) -> int:
        '''Add two numbers.'''
        return a + b

    tools = build_tools(settings, db="sqlite:///sales.db", allow_hosts=["api.example.com"],
                        allow_private=False, allow_writes=False)

Built in: `sql` (SQLDatabase: SQLite, DuckDB, PostgreSQL; read-only unless granted), `http` (HTTPFetcher:
allow-listed hosts, SSRF-guarded), `python` (PythonRunner: a SandboxSession), and any MCP server's tools
(MCPToolset). Every tool failure comes back as a `ToolResult` with `ok=False`, never as an exception.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from nativa.tools.base import Tool, ToolArgumentError, ToolError, ToolResult, render_value, tool

if TYPE_CHECKING:
    from nativa.config import Settings


def build_tools(settings: Settings | None, *, db: str | None, allow_hosts: Sequence[str] = (),
                allow_private: bool = False, allow_writes: bool = False, python: bool = True,
                mcp_servers: Sequence[str] = (), sql_timeout_s: float = 10.0, http_timeout_s: float = 10.0,
                python_timeout_s: float = 10.0) -> list[Tool]:
    """The tools a request may use, from the user's grants (never the model's): call `close_tools` after.

    `db` None means no SQL tool (the CLI passes the sample database by default: `nativa.data.sample_db_url()`);
    an empty `allow_hosts` means no HTTP tool; `python` adds the sandboxed runner (started lazily);
    `mcp_servers` (commands or http URLs) add each server's tools.
    """
    from nativa.tools.http import HTTPFetcher
    from nativa.tools.python import PythonRunner
    from nativa.tools.sql import SQLDatabase

    tools: list[Tool] = []
    try:
        if db:
            tools.append(SQLDatabase(db, allow_writes=allow_writes, timeout_s=sql_timeout_s).as_tool())
        if allow_hosts:
            tools.append(HTTPFetcher(list(allow_hosts), allow_private=allow_private, allow_writes=allow_writes,
                                     timeout_s=http_timeout_s).as_tool())
        if python:
            allow_weak = settings.sandbox_allow_weak if settings is not None else None
            tools.append(PythonRunner(timeout_s=python_timeout_s, allow_weak=allow_weak).as_tool())
        if mcp_servers:
            from nativa.tools.mcp import MCPToolset

            for i, server in enumerate(mcp_servers):
                taken = {t.name for t in tools}
                found = MCPToolset(server).tools()
                if any(t.name in taken for t in found):
                    for t in found:
                        t.close()
                    found = MCPToolset(server, prefix=f"mcp{i + 1}").tools()
                tools.extend(found)
    except BaseException:
        close_tools(tools)
        raise
    return tools


def close_tools(tools: Iterable[Tool]) -> None:
    """Close every tool (engines, sandboxes, MCP connections); errors on one do not stop the others."""
    for t in tools:
        try:
            t.close()
        except Exception:  # noqa: BLE001, S110 - best effort at shutdown: close the others too
            pass


__all__ = ["Tool", "ToolArgumentError", "ToolError", "ToolResult", "build_tools", "close_tools", "render_value",
           "tool"]
