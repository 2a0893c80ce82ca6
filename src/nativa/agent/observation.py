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


def describe_failure(run: Any, code_lines: int | None = None, *, code_file: str | None = None) -> str:
    """`run` is a sandbox RunResult (duck-typed: ok, error_type, error_message, traceback, stdout, killed_by).

    The candidate runs as `code_file` under nativa's harness: only its frames are shown, so the model reads
    about its own code. (`code_lines` is for a program that holds the candidate in its first lines: a
    traceback ending past them was raised by checks, whose message already says everything.)
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
    tb = own_frames(run.traceback, code_file) if run.traceback else None
    if tb and not _raised_by_checks(tb, code_lines):
        lines = [ln for ln in tb.strip().splitlines() if not ln.startswith("Traceback (most recent")]
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


_FRAME = re.compile(r'^  File "(?P<file>[^"]*)", line \d+')


def own_frames(traceback: str, code_file: str | None) -> str | None:
    """The traceback with only the frames of `code_file` (the harness's own frames dropped); None when the
    error did not pass through that file at all (the harness's checks raised it: their message says all)."""
    if code_file is None:
        return traceback
    out: list[str] = []
    keep = True
    seen = False
    for line in traceback.splitlines():
        m = _FRAME.match(line)
        if m:
            keep = m.group("file") == code_file
            seen = seen or keep
        elif not line.startswith("    ") and not line.startswith("  "):
            keep = True  # "Traceback (...)", the exception line, chained-exception headers
        if keep:
            out.append(line)
    return "\n".join(out) if seen else None
