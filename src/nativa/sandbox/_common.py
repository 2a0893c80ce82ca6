"""What every way of running code in the sandbox shares (one-shot `Sandbox.run`, `SandboxSession`, the
`SandboxPool`): the request sent to the runner, the `RunResult` built from what the host observed, and the
span each run leaves. A module of its own so `sandbox`, `session` and `pool` all import it, none another's
private helpers.
"""

from __future__ import annotations

import base64
import contextlib
import signal
from collections.abc import Iterator
from typing import Any

from opentelemetry import trace

from nativa.errors import BadInputError
from nativa.sandbox._worker import RawOutcome
from nativa.sandbox.limits import Limits, check_files
from nativa.sandbox.probe import Tier
from nativa.sandbox.result import RunResult
from nativa.tracing import sandbox_attributes, sandbox_span
from nativa.tracing.genai import SANDBOX_SPAN


def encode_request(code: str, *, files: dict[str, bytes | str] | None, stdin: bytes | str | None,
                   limits: Limits, filename: str) -> dict[str, Any]:
    """Check the arguments (a bad one is the caller's error, before a sandbox starts) and encode them
    as the JSON request the runner inside the sandbox reads: bytes as base64, limits as rlimits."""
    if not isinstance(code, str):
        raise BadInputError(f"code must be a str of Python source, not {type(code).__name__}")
    if stdin is not None and not isinstance(stdin, bytes | bytearray | str):
        raise BadInputError(f"stdin must be bytes, str or None, not {type(stdin).__name__}")
    if not isinstance(filename, str) or not filename or "/" in filename or "\x00" in filename:
        raise BadInputError(f"filename={filename!r} is invalid: use a plain name such as 'main.py'")
    checked = check_files(files, limits)
    data = stdin.encode() if isinstance(stdin, str) else stdin
    return {
        "code": code, "filename": filename,
        "stdin": base64.b64encode(data).decode() if data else None,
        "files": {k: base64.b64encode(v).decode() for k, v in checked.items()},
        "limits": limits.runner_limits(), "max_files_out": limits.max_files_out_bytes,
    }


def max_result_bytes(limits: Limits) -> int:
    """The most the result channel may carry: base64 files plus message and traceback, with headroom."""
    return limits.max_files_out_bytes * 4 // 3 + 1_000_000


def _safe_name(name: object) -> bool:
    return isinstance(name, str) and bool(name) and not name.startswith("/") and ".." not in name.split("/")


def build_result(raw: RawOutcome, *, tier: Tier, layers: list[str], limits: Limits) -> RunResult:
    """Turn what the host observed into a `RunResult`, deciding `killed_by` from facts the code cannot fake.

    Any OOM kill inside the sandbox ends the run as killed_by="memory" (the host kills the rest at once), so
    the outcome does not depend on which process the kernel happened to pick.
    """
    done = raw.done
    killed = raw.killed_by
    error_type = error_message = tb = None
    files: dict[str, bytes] = {}
    files_truncated = False
    sig = 0
    if done is not None and killed is None:
        ok = bool(done.get("ok"))
        exit_code: int | None = int(done.get("exit_code", 1))
        error_type, error_message, tb = done.get("error_type"), done.get("error_message"), done.get("traceback")
        if error_type == "MemoryError" or raw.oom_killed:
            killed = "memory"
        for name, b64 in (done.get("files") or {}).items():
            if _safe_name(name) and isinstance(b64, str):
                with contextlib.suppress(ValueError):
                    files[name] = base64.b64decode(b64, validate=True)
        files_truncated = bool(done.get("files_truncated"))
    else:
        status = raw.exit_status
        if status is not None:
            if status < 0:
                sig = -status
            elif tier == "A" and status > 128:
                sig = status - 128  # bwrap reports a child killed by signal N as 128 + N
        if killed is None:
            if raw.oom_killed:
                killed = "memory"
            elif sig == signal.SIGXCPU:
                killed = "timeout"
            elif sig:
                killed = "signal"
        exit_code = -sig if sig else status
        ok = killed is None and status == 0 and not raw.lost
        if not ok and killed is None:
            error_message = (f"the process exited with status {status} before finishing" if not raw.lost or status
                             else "the sandbox ended without a verdict (its supervisor was stopped or killed)")
    if killed is not None and error_type is None:
        error_type, error_message = _killed_error(killed, limits, sig, raw)
    elif killed == "memory" and not error_message:
        error_message = f"an allocation was refused: the code reached its {limits.memory_mb} MB memory limit"
    return RunResult(
        ok=ok and killed is None, exit_code=exit_code,
        stdout=raw.stdout.decode("utf-8", "replace"), stderr=raw.stderr.decode("utf-8", "replace"),
        stdout_truncated=raw.stdout_truncated, stderr_truncated=raw.stderr_truncated,
        error_type=error_type, error_message=error_message, traceback=tb, duration_s=round(raw.duration_s, 6),
        killed_by=killed, tier=tier, layers=list(layers), files_out=files, files_out_truncated=files_truncated,
        cpu_s=raw.cpu_s,
    )


def _killed_error(killed: str, limits: Limits, sig: int, raw: RawOutcome) -> tuple[str, str]:
    if killed == "timeout" and raw.kill_detail == "cpu":
        return "TimeoutError", (f"the code used more than {limits.cpu_budget_s:g} s of CPU time (all its processes "
                                "together) and was killed")
    if killed == "timeout":
        return "TimeoutError", f"the code ran past its {limits.timeout_s:g} s time limit and was killed"
    if killed == "disk":
        why = f" ({raw.notes[-1]})" if raw.notes else ""
        return "DiskLimitExceeded", (f"the code wrote more than {limits.max_file_mb} MB or {limits.max_inodes} files "
                                     f"to its work dir or /tmp and was killed{why}")
    if killed == "memory":
        return "MemoryError", f"the code exceeded its {limits.memory_mb} MB memory limit and was killed"
    if killed == "output":
        return "OutputLimitExceeded", f"the code wrote more than {limits.max_output_bytes} bytes of output and was killed"
    return "Killed", f"the code was killed by signal {_signame(sig)}"


def _signame(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return str(sig)


@contextlib.contextmanager
def traced(mode: str, tier: str) -> Iterator[dict[str, Any]]:
    """A `nativa.sandbox.run` span per run; a no-op span until the application calls `tracing.setup`."""
    holder: dict[str, Any] = {}
    current = trace.get_current_span()
    if getattr(current, "name", None) == SANDBOX_SPAN and current.is_recording():
        # The caller (the agent) already opened this run's span: fill it in rather than nest a second one,
        # which would count the run twice in the sandbox metrics.
        yield holder
        current.set_attribute("nativa.sandbox.mode", mode)
        if "result" in holder:
            sandbox_attributes(current, holder["result"])
        return
    with sandbox_span(tier, attributes={"nativa.sandbox.mode": mode}) as span:
        yield holder
        if "result" in holder:
            span.set_result(holder["result"])


def record(holder: dict[str, Any], result: RunResult) -> None:
    """Hand the run's result to its `traced` span, which copies it onto the span when the run ends."""
    holder["result"] = result
