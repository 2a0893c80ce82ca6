"""Turn a failed run into the observation the model reads next: precise, short, about the user's code.

A small model repairs what it is shown. It needs the exception type and message, where in its own code it
happened (the traceback tail, runner frames already removed by the sandbox), the failing check with
expected vs actual, and the end of what it printed; not 4 KB of noise.
"""

from __future__ import annotations

import re
from typing import Any

_TAIL_LINES = 8
_STDOUT_CHARS = 600


def describe_failure(run: Any, code_lines: int | None = None) -> str:
    """`run` is a sandbox RunResult (duck-typed: ok, error_type, error_message, traceback, stdout, killed_by).

    `code_lines`: the candidate occupies lines 1..code_lines of the program; a traceback that ends past them
    was raised by our checks, whose message already says everything, so it is left out.
    """
    parts: list[str] = []
    if run.killed_by == "timeout":
        parts.append("The program was killed because it ran too long (an infinite loop, or far too slow).")
    elif run.killed_by == "memory":
        parts.append("The program was killed because it used too much memory.")
    elif run.killed_by == "output":
        parts.append("The program was killed because it printed far too much output.")
    elif run.killed_by == "signal":
        parts.append(f"The program was killed by a signal (exit code {run.exit_code}).")
    if run.error_type:
        message = (run.error_message or "").strip()
        parts.append(f"{run.error_type}: {message}" if message else run.error_type)
    if run.traceback and not _raised_by_checks(run.traceback, code_lines):
        lines = [ln for ln in run.traceback.strip().splitlines() if not ln.startswith("Traceback (most recent")]
        parts.append("Traceback (most recent call last, your code only):\n" + "\n".join(lines[-_TAIL_LINES:]))
    elif not run.error_type and run.stderr:
        parts.append("stderr:\n" + run.stderr.strip()[-_STDOUT_CHARS:])
    if run.stdout and run.stdout.strip():
        out = run.stdout.strip()
        parts.append("Its output ended with:\n" + (out[-_STDOUT_CHARS:] if len(out) > _STDOUT_CHARS else out))
    if not parts:
        parts.append(f"The program exited with code {run.exit_code}.")
    return "\n".join(parts)


def _raised_by_checks(traceback: str, code_lines: int | None) -> bool:
    if code_lines is None:
        return False
    frames = re.findall(r'File "[^"]*", line (\d+)', traceback)
    return bool(frames) and int(frames[-1]) > code_lines
