"""`nativa mcp`: serve nativa's sandboxed Python runner to MCP clients (editors, other agent frameworks)."""

from __future__ import annotations

from typing import Annotated

import typer


def mcp(
    http: Annotated[int | None, typer.Option("--http", min=1, max=65535, metavar="PORT",
                                             help="Serve streamable HTTP on 127.0.0.1:PORT (path /mcp) "
                                                  "instead of stdio.")] = None,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds each snippet may run.")] = 10.0,
    memory_mb: Annotated[int, typer.Option("--memory-mb", min=32, help="Memory limit per snippet.")] = 512,
) -> None:
    """Serve `run_python` (code in nativa's sandbox, state kept across calls) over MCP: stdio by default."""
    from nativa.cli._common import settings
    from nativa.tools.mcp_server import serve
    from nativa.tools.python import PythonRunner

    cfg = settings()
    runner = PythonRunner(timeout_s=timeout, memory_mb=memory_mb, allow_weak=cfg.sandbox_allow_weak)
    serve(http_port=http, runner=runner)
