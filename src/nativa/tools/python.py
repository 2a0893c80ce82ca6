"""The Python tool: run model-written code in a `SandboxSession`, never in nativa's own process.

State persists between calls (variables, imports), like a notebook, because a model that loads data in one
step expects it in the next. The session starts lazily on the first call, so building the tool (for every
HTTP request of the server, say) costs nothing until the model actually uses it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from nativa.errors import PythonRunError
from nativa.tools.base import Tool

_TRACEBACK_LINES = 8


class PythonRunner:
    """Runs snippets in one sandboxed interpreter; `session_factory` builds a `SandboxSession` on first use."""

    def __init__(self, *, timeout_s: float = 10.0, memory_mb: int = 512, allow_weak: bool | None = None,
                 max_output_chars: int = 4000, session_factory: Callable[[], Any] | None = None) -> None:
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.allow_weak = allow_weak
        self.max_output_chars = max_output_chars
        self._factory = session_factory
        self._session: Any = None
        self._lock = threading.Lock()

    def _get(self) -> Any:
        with self._lock:
            if self._session is None:
                if self._factory is not None:
                    self._session = self._factory()
                else:
                    from nativa.sandbox import SandboxSession

                    self._session = SandboxSession(timeout_s=self.timeout_s, memory_mb=self.memory_mb,
                                                   allow_weak=self.allow_weak)
            return self._session

    def run(self, code: str) -> str:
        """stdout of the snippet; a failure raises `PythonRunError` with the error and the traceback tail."""
        if not code.strip():
            raise PythonRunError("the code is empty; send Python statements, and print() what you need to see")
        result = self._get().run(code)
        out = (result.stdout or "")[-self.max_output_chars:]
        if result.ok:
            return out if out.strip() else "(no output; use print() to see values)"
        lines = [f"{result.error_type or 'Error'}: {result.error_message or ''}".rstrip()]
        if result.killed_by:
            lines.append(f"(the sandbox stopped the code: {result.killed_by} limit)")
        if result.traceback:
            tail = result.traceback.strip().splitlines()[-_TRACEBACK_LINES:]
            lines.append("Traceback (last lines):\n" + "\n".join(tail))
        if out.strip():
            lines.append("Output before the error:\n" + out)
        raise PythonRunError("\n".join(lines))

    def as_tool(self, name: str = "python") -> Tool:
        """This runner as a `python` tool whose variables persist between the model's calls (one sandbox
        session), closed with the other tools."""
        runner = self

        def python(code: str) -> str:
            """Run Python code in a sandbox and get what it prints; variables persist between calls.

            Args:
                code: Python statements; print() the values you need
            """
            return runner.run(code)

        return Tool.from_function(python, name=name, kind="code", close=self.close,
                                  context=lambda: "Python: standard library only, no network, no files outside "
                                                  "the work dir; print() results.")

    def close(self) -> None:
        """End the sandbox session (its interpreter and variables); the next run starts a fresh one."""
        with self._lock:
            if self._session is not None:
                self._session.close()
                self._session = None
