"""MCP round trips with real server processes: a third-party-style server's tools used as nativa tools (stdio),
and nativa's own sandboxed Python runner served over stdio and streamable HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nativa.agent.tool_agent import ToolAgent
from nativa.models import ScriptedModel
from nativa.tools.mcp import MCPError, MCPToolset

ECHO = [sys.executable, str(Path(__file__).with_name("mcp_echo_server.py"))]
NATIVA = [sys.executable, "-m", "nativa.tools.mcp_server"]


pytestmark = pytest.mark.integration  # real MCP server processes (stdio and loopback HTTP), the real sandbox


@pytest.fixture(scope="module")
def echo() -> Iterator[MCPToolset]:
    with MCPToolset(ECHO, timeout_s=60) as toolset:
        yield toolset


def test_stdio_server_tools_become_nativa_tools(echo: MCPToolset) -> None:
    tools = {t.name: t for t in echo.tools()}
    assert set(tools) == {"add", "shout", "fail"}
    assert tools["add"].kind == "mcp" and tools["add"].description == "Add two integers."
    assert tools["add"].parameters_schema()["properties"]["a"]["type"] == "integer"
    assert tools["add"].call({"a": 2, "b": 40}).output == "42"
    assert tools["shout"].call({"text": "hi", "times": 2}).output == "HI HI"
    assert tools["shout"].call({"text": "hey"}).output == "HEY"  # the optional argument is left to the server


def test_errors_from_mcp_tools_are_observations(echo: MCPToolset) -> None:
    tools = {t.name: t for t in echo.tools()}
    failed = tools["fail"].call({"reason": "testing"})
    assert not failed.ok and "failed on purpose: testing" in failed.observation
    invalid = tools["add"].call({"a": "two", "b": 1})  # refused locally, before the round trip
    assert not invalid.ok and invalid.error_type == "ValidationError" and "'a'" in (invalid.error or "")


def test_tool_agent_uses_an_mcp_tool(echo: MCPToolset) -> None:
    model = ScriptedModel(['{"tool": "add", "arguments": {"a": 19, "b": 23}}',
                           '{"tool": "final_answer", "arguments": {"answer": "42"}}'])
    result = ToolAgent(model, echo.tools()).run("what is 19 + 23?")
    assert result.answer == "42" and result.steps[0].observation == "42"


def test_a_server_that_cannot_start_is_a_clear_error() -> None:
    with pytest.raises(MCPError, match="cannot connect to MCP server"):
        MCPToolset([sys.executable, "-c", "import sys; sys.exit(3)"], timeout_s=30).start()


def test_nativa_mcp_server_runs_python_in_the_sandbox_over_stdio() -> None:
    with MCPToolset(NATIVA, timeout_s=60) as server:
        (run_python,) = server.tools()
        assert run_python.name == "run_python"
        assert run_python.call({"code": "x = 6 * 7\nprint(x)"}).output.strip() == "42"
        assert run_python.call({"code": "print(x + 1)"}).output.strip() == "43"  # state persists
        failed = run_python.call({"code": "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=2)"})
        assert not failed.ok  # no network inside the sandbox
        error = run_python.call({"code": "1 / 0"})
        assert not error.ok and "ZeroDivisionError" in error.observation and "cell" in error.observation


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_nativa_mcp_server_over_streamable_http_on_loopback() -> None:
    port = _free_port()
    process = subprocess.Popen([*NATIVA, "--http", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
                time.sleep(0.2)
        with MCPToolset(f"http://127.0.0.1:{port}/mcp", timeout_s=60) as server:
            (run_python,) = server.tools()
            assert run_python.call({"code": "print(sum(range(10)))"}).output.strip() == "45"
    finally:
        process.terminate()
        process.wait(10)
