"""The sandboxed Python tool, and `build_tools` assembling tools from the user's grants."""

from __future__ import annotations

import pytest

from nativa.config import Settings
from nativa.data import sample_db_url
from nativa.errors import BadInputError
from nativa.tools import build_tools, close_tools
from nativa.tools.python import PythonRunner


@pytest.mark.integration  # the real sandbox
def test_python_tool_runs_in_a_sandbox_session_with_state() -> None:
    runner = PythonRunner(timeout_s=2)
    python = runner.as_tool()
    try:
        assert python.kind == "code" and python.parameters_schema()["required"] == ["code"]
        assert python.call({"code": "import os\nrows = [1, 2, 3]\nprint(sum(rows), os.getpid() != 1)"}).ok
        assert python.call({"code": "print(len(rows))"}).output.strip() == "3"  # state persists
        quiet = python.call({"code": "y = 2"})
        assert quiet.ok and "use print()" in quiet.output
        failed = python.call({"code": "def f():\n    return 1 / 0\nf()"})
        assert not failed.ok and failed.error_type == "PythonRunError"
        assert "ZeroDivisionError: division by zero" in failed.observation and "return 1 / 0" in failed.observation
        hung = python.call({"code": "while True:\n    pass"})
        assert not hung.ok and "timeout" in hung.observation
        assert python.call({"code": "print('after a restart')"}).ok  # a killed interpreter is replaced
        assert not python.call({"code": "  "}).ok
    finally:
        python.close()


def test_python_session_starts_only_when_used() -> None:
    started: list[int] = []

    def factory() -> object:
        started.append(1)
        raise AssertionError("should not start")

    tool = PythonRunner(session_factory=factory).as_tool()
    tool.close()
    assert started == []


def test_build_tools_follows_the_grants(tmp_path: object) -> None:
    tools = build_tools(Settings(), db=sample_db_url(), allow_hosts=["api.example.com"], allow_private=False,
                        allow_writes=False)
    try:
        assert [(t.name, t.kind) for t in tools] == [("sql", "sql"), ("http", "http"), ("python", "code")]
        assert "read-only SQL query" in tools[0].description
        assert list(tools[1].parameters_schema()["properties"]) == ["url"]  # GET only without writes
        assert "allowed hosts: api.example.com" in (tools[1].context() or "")
    finally:
        close_tools(tools)
    assert build_tools(None, db=None, allow_hosts=[], python=False) == []
    with pytest.raises(BadInputError, match="valid forms"):
        build_tools(None, db="nonsense", allow_hosts=[])
