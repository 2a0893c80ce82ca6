"""The seam between the sandbox and its users: what the agent, the server and the benches rely on.

`Sandbox` is the implementation; anything with this `run` (a remote sandbox, a test double) can stand in,
and the sandbox conformance suite runs the same tests on every tier through it.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from nativa.sandbox.result import RunResult


@runtime_checkable
class SandboxLike(Protocol):
    """Runs one program in isolation and reports what happened; a failing program is a result, not an error."""

    def run(self, code: str, *, files: dict[str, bytes | str] | None = None, stdin: bytes | str | None = None,
            timeout_s: float | None = None, memory_mb: int | None = None, max_output_bytes: int | None = None,
            allow_network: bool = False, filename: str = "main.py") -> RunResult:
        """Run `code` as `filename` with `files` in its work dir; the limits given replace the sandbox's
        defaults for this run. A program that fails, times out or is killed is a RunResult with ok=False;
        only the sandbox itself failing raises (SandboxError)."""
        ...
