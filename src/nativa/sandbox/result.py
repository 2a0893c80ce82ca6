"""`RunResult`: everything one sandboxed run produced, typed and JSON-safe.

`killed_by` says which limit ended the run, precisely:
- "timeout": the wall-clock limit passed, or the run's processes together used more CPU time than
  `Limits.cpu_budget_s` (the message says which; SIGXCPU, the per-process backstop, reads the same); the
  sandbox was killed.
- "memory": the memory limit ended the run: either an allocation failed under RLIMIT_AS and the
  MemoryError left the code (error_type "MemoryError"), or the cgroup's OOM killer killed a process of
  a run that then failed.
- "output": stdout or stderr passed `max_output_bytes`; the sandbox was killed, what fit is kept.
- "signal": a process died of a signal nativa did not send (a segfault in ctypes code, say).
- "disk": tier B without a mountable tmpfs only: the work dir or /tmp passed its byte or file budget,
  which the host checks while the code runs (elsewhere a full tmpfs fails the write with ENOSPC instead).
- None: the code ended on its own, successfully or not.

For runs the sandbox ended, `error_type` carries a Python-like name ("TimeoutError", "MemoryError",
"OutputLimitExceeded", "DiskLimitExceeded", "Killed") so an agent can feed every failure back the same way.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field, fields
from typing import Any, Literal

KilledBy = Literal["timeout", "memory", "output", "signal", "disk"]


@dataclass(frozen=True)
class RunResult:
    """The outcome of running one piece of code in a sandbox (a failure of the *code* is not an exception)."""

    ok: bool
    exit_code: int | None
    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    """The code's traceback as Python prints it, with the runner's frames removed."""
    duration_s: float = 0.0
    """From when the host handed the request over (or, for a sandbox still starting, when it became ready:
    the same moment the time limit counts from) to the end of the code's process or snippet."""
    killed_by: KilledBy | None = None
    tier: str = ""
    layers: list[str] = field(default_factory=list)
    files_out: dict[str, bytes] = field(default_factory=dict)
    """Files the code created or changed in its work dir, up to `max_files_out_bytes` in total."""
    files_out_truncated: bool = False
    cpu_s: float | None = None
    """CPU seconds all the run's processes used, as the host read them from the CPU cgroup (None: no cgroup)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: file contents become base64 strings."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["layers"] = list(self.layers)
        out["files_out"] = {k: base64.b64encode(v).decode() for k, v in self.files_out.items()}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        """A result back from its `to_dict` (files decoded from base64), so a paused run's evidence survives
        its checkpoint."""
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in data.items() if k in names}
        kw["files_out"] = {k: base64.b64decode(v) for k, v in (data.get("files_out") or {}).items()}
        kw["layers"] = list(data.get("layers") or [])
        return cls(**kw)

    def summary(self) -> str:
        """One line for logs and CLIs: outcome, exit code, time, tier."""
        state = "ok" if self.ok else f"failed ({self.error_type or 'exit'}"
        if not self.ok:
            state += f", killed by {self.killed_by})" if self.killed_by else ")"
        return f"{state}, exit {self.exit_code}, {self.duration_s:.3f} s, tier {self.tier}"
