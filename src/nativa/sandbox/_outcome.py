"""What the host observed of one run, and how the supervisor's verdict and the executor's report combine.

The rule: a one-shot run succeeded only if the supervisor saw the executor exit with status 0 (the verdict,
which model-written code cannot write) *and* the executor's own report, if any, does not say it failed. The
report -- error type, message, traceback, files -- is the code's account of itself: it is type-checked and
size-capped here, and it can add detail to a failure or turn a success into one, never the reverse. In a
session the interpreter stays alive, so its report is the only account of a snippet (see README).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

_MAX_TEXT = {"error_type": 300, "error_message": 16 * 1024, "traceback": 128 * 1024}
_EXIT_RANGE = range(256)


@dataclass
class RawOutcome:
    """What the host observed during one request, before it becomes a `RunResult`."""

    done: dict[str, Any] | None = None
    """The run's outcome when it ended on its own: verdict and report combined (see `merge`)."""
    stdout: bytes = b""
    stderr: bytes = b""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    killed_by: str | None = None
    exit_status: int | None = None
    oom_killed: bool = False
    duration_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    lost: bool = False
    """The sandbox ended without a verdict the host can believe (its supervisor was killed, say): a failure."""
    kill_detail: str | None = None
    """Which limit behind `killed_by`: "cpu" when the CPU budget, not the wall clock, ended a "timeout"."""
    cpu_s: float | None = None


def parse(line: bytes) -> dict[str, Any]:
    """One JSON line as a dict; anything else (garbage, a list, invalid UTF-8) reads as {}."""
    try:
        msg = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return {}
    return msg if isinstance(msg, dict) else {}


def report(msg: dict[str, Any] | None) -> dict[str, Any]:
    """The executor's report, reduced to fields of the right type and size (it is the code's own account)."""
    if not msg:
        return {}
    out: dict[str, Any] = {}
    if isinstance(msg.get("ok"), bool):
        out["ok"] = msg["ok"]
    code = msg.get("exit_code")
    if isinstance(code, int) and not isinstance(code, bool) and code in _EXIT_RANGE:
        out["exit_code"] = code
    for key, cap in _MAX_TEXT.items():
        value = msg.get(key)
        if isinstance(value, str):
            out[key] = value if len(value) <= cap else value[:cap] + "...[truncated]"
    files = msg.get("files")
    if isinstance(files, dict):
        out["files"] = {k: v for k, v in files.items() if isinstance(k, str) and isinstance(v, str)}
    out["files_truncated"] = msg.get("files_truncated") is True or (isinstance(files, dict) and
                                                                   len(out["files"]) != len(files))
    return out


def merge(raw: RawOutcome, verdict: dict[str, Any] | None, reports: list[dict[str, Any]]) -> None:
    """Set `raw.done` (or, for a death by signal, `raw.exit_status`) from the verdict and the reports.

    `verdict` None means a live session interpreter answered: its report is all there is. A one-shot run
    succeeds only with status 0 and no report saying otherwise; the error comes from the first failed report
    (the executor's own, sent before atexit handlers ran), the files from the last.
    """
    reps = [report(r) for r in reports]
    failed = [r for r in reps if r.get("ok") is not True]
    rep = dict(reps[-1]) if reps else {}
    if failed:
        for key in (*_MAX_TEXT, "exit_code"):
            rep.pop(key, None)
            if key in failed[0]:
                rep[key] = failed[0][key]
    if verdict is None:
        ok = bool(reps) and not failed
        rep["ok"] = ok
        rep.setdefault("exit_code", 0 if ok else 1)
        raw.done = rep
        return
    sig = verdict.get("signal")
    status = verdict.get("status")
    if isinstance(sig, int) and not isinstance(sig, bool) and 0 < sig < 128:
        raw.exit_status = -sig  # build_result reads a negative status as a death by that signal
        return
    if not isinstance(status, int) or isinstance(status, bool) or status not in _EXIT_RANGE:
        raw.lost = True
        return
    rep["ok"] = status == 0 and not failed
    rep["exit_code"] = status
    if not rep["ok"] and not rep.get("error_type") and not rep.get("error_message"):
        rep["error_message"] = (f"the process exited with status {status}" if status else
                                "the code reported a failure but exited with status 0")
    if rep["ok"]:
        for key in _MAX_TEXT:
            rep.pop(key, None)  # a successful run has no error, whatever the code wrote about itself
    raw.done = rep


def finite(value: object) -> bool:
    """Whether `value` is a real, finite number (bool excluded): what the runner reports is not trusted."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
