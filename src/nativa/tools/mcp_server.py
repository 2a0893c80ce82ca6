"""`nativa mcp`: serve nativa's sandboxed Python runner to any MCP client (stdio, or streamable HTTP).

An editor or another agent framework can then run code the way nativa does, behind the same sandbox
(tier A or B), with state kept across calls in one `SandboxSession` per server process.
"""

from __future__ import annotations

from typing import Any

from nativa.tools.python import PythonRunError, PythonRunner

INSTRUCTIONS = ("Runs Python code in nativa's sandbox (no network, limited memory and time, standard library "
                "only). Variables persist between calls. print() what you want to see.")


def build_server(runner: PythonRunner | None = None, *, log_level: str = "WARNING") -> Any:
    """An `MCPServer` with one tool, `run_python(code)`; failures come back as tool errors with the traceback."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError as MCPToolError

    python = runner or PythonRunner()
    server = MCPServer("nativa", instructions=INSTRUCTIONS, log_level=log_level)  # type: ignore[arg-type]

    @server.tool()
    def run_python(code: str) -> str:
        """Run Python code in nativa's sandbox and return what it prints; variables persist between calls.

        Args:
            code: Python statements; print() the values you need
        """
        try:
            return python.run(code)
        except PythonRunError as exc:
            raise MCPToolError(str(exc)) from None

    return server


def serve(*, http_port: int | None = None, runner: PythonRunner | None = None) -> None:
    """Serve until the client disconnects (stdio) or the process is stopped (HTTP on 127.0.0.1 only)."""
    python = runner or PythonRunner()
    server = build_server(python)
    try:
        if http_port is None:
            server.run("stdio")
        else:
            server.run("streamable-http", host="127.0.0.1", port=http_port)
    finally:
        python.close()


def main(argv: list[str] | None = None) -> int:
    """`python -m nativa.tools.mcp_server [--http PORT]`, the same server as `nativa mcp`."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m nativa.tools.mcp_server", description=__doc__)
    parser.add_argument("--http", type=int, metavar="PORT", help="serve streamable HTTP on 127.0.0.1:PORT")
    args = parser.parse_args(argv)
    serve(http_port=args.http)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
