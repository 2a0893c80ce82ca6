"""The limits of one run, validated at the boundary so a bad value is a `BadInputError`, not a hung sandbox.

Each limit is enforced by the layer that can enforce it without trusting the code: wall-clock time by the
host (it kills the whole sandbox, counting from a start record only the sandbox's supervisor can write), CPU
time of all the run's processes together by the host reading the CPU cgroup (RLIMIT_CPU per process as a
backstop), memory by RLIMIT_AS (an allocation fails with MemoryError) *and* the memory cgroup (which also
counts children and tmpfs pages), processes by RLIMIT_NPROC on a uid of the sandbox's own plus the pids
cgroup, output by the host reading the pipes, files by RLIMIT_FSIZE and sized tmpfs mounts (or, in tier B
where the host cannot mount, a budget the host checks while the code runs).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, replace
from typing import Any

from nativa.errors import BadInputError

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MEMORY_MB = 512
DEFAULT_MAX_OUTPUT_BYTES = 1_000_000

_MIN_MEMORY_MB = 64  # the interpreter alone maps ~25 MB of address space
_NAME_OK = re.compile(r"^[A-Za-z0-9._\-+ ]+$")


@dataclass(frozen=True)
class Limits:
    """Per-run ceilings; the defaults suit a model's snippet (10 s, 512 MB, 1 MB of output)."""

    timeout_s: float = DEFAULT_TIMEOUT_S
    memory_mb: int = DEFAULT_MEMORY_MB
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES
    max_processes: int = 64
    max_open_files: int = 256
    max_file_mb: int = 64
    """Largest single file (RLIMIT_FSIZE), and the size of the work dir and /tmp tmpfs mounts (tier A)."""
    max_files_out_bytes: int = 10_000_000
    """Total size of files handed back in `RunResult.files_out`; the rest is dropped and flagged."""
    max_cpu_s: float | None = None
    """CPU seconds of all the run's processes together (None: `timeout_s`, one CPU for the whole run)."""
    max_inodes: int = 10_000
    """Files and directories in the work dir, and again in /tmp (tier B; tier A's are bounded by memory)."""

    def __post_init__(self) -> None:
        _positive(self.timeout_s, "timeout_s", "a number of seconds > 0, e.g. 10")
        if not math.isfinite(self.timeout_s) or self.timeout_s > 86_400:
            raise BadInputError(f"timeout_s={self.timeout_s!r} is out of range: use 0 < timeout_s <= 86400")
        _int_at_least(self.memory_mb, "memory_mb", _MIN_MEMORY_MB)
        _int_at_least(self.max_output_bytes, "max_output_bytes", 1)
        _int_at_least(self.max_processes, "max_processes", 1)
        _int_at_least(self.max_open_files, "max_open_files", 16)
        _int_at_least(self.max_file_mb, "max_file_mb", 1)
        _int_at_least(self.max_files_out_bytes, "max_files_out_bytes", 0)
        _int_at_least(self.max_inodes, "max_inodes", 16)
        if self.max_cpu_s is not None:
            _positive(self.max_cpu_s, "max_cpu_s", "a number of CPU seconds > 0, or None for timeout_s")
            if not math.isfinite(self.max_cpu_s) or self.max_cpu_s > 86_400:
                raise BadInputError(f"max_cpu_s={self.max_cpu_s!r} is out of range: use 0 < max_cpu_s <= 86400")

    def with_overrides(self, **kw: Any) -> Limits:
        """A copy with the given non-None fields replaced (and validated)."""
        return replace(self, **{k: v for k, v in kw.items() if v is not None})

    @property
    def memory_bytes(self) -> int:
        """`memory_mb` in bytes: what the address-space rlimit and the cgroup's memory limit are set to."""
        return self.memory_mb * 1024 * 1024

    @property
    def cpu_budget_s(self) -> float:
        """The CPU seconds the host allows the run's processes in total."""
        return self.max_cpu_s if self.max_cpu_s is not None else self.timeout_s

    def runner_limits(self) -> dict[str, int]:
        """The rlimits the runner sets on itself before it runs the code (it cannot raise them again)."""
        return {
            "as": self.memory_bytes,
            "fsize": self.max_file_mb * 1024 * 1024,
            "nofile": self.max_open_files,
            "nproc": self.max_processes,
            "cpu": math.ceil(max(self.timeout_s, self.cpu_budget_s)) + 1,
        }

    def to_dict(self) -> dict[str, Any]:
        """Every limit by name, for JSON output and span attributes."""
        return asdict(self)


def _positive(value: object, name: str, valid: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise BadInputError(f"{name}={value!r} is invalid: use {valid}")


def _int_at_least(value: object, name: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BadInputError(f"{name}={value!r} is invalid: use an integer >= {minimum}")


def check_files(files: dict[str, bytes | str] | None, limits: Limits) -> dict[str, bytes]:
    """Validate the files to put into the work dir: relative names, no '..', each within max_file_mb."""
    if not files:
        return {}
    if not isinstance(files, dict):
        raise BadInputError(f"files must be a dict of relative path -> bytes, not {type(files).__name__}")
    out: dict[str, bytes] = {}
    for name, data in files.items():
        if not isinstance(name, str) or not name or name.startswith("/") or "\x00" in name:
            raise BadInputError(f"file name {name!r} is invalid: use a relative path such as 'data/input.csv'")
        parts = name.split("/")
        if any(p in ("", ".", "..") or not _NAME_OK.match(p) for p in parts) or len(parts) > 16:
            raise BadInputError(f"file name {name!r} is invalid: use a relative path of plain names "
                                "(letters, digits, . _ - + space), no '..'")
        blob = data.encode() if isinstance(data, str) else data
        if not isinstance(blob, bytes | bytearray):
            raise BadInputError(f"file {name!r} must be bytes or str, not {type(data).__name__}")
        if len(blob) > limits.max_file_mb * 1024 * 1024:
            raise BadInputError(f"file {name!r} is {len(blob)} bytes: the limit is max_file_mb={limits.max_file_mb}")
        out[name] = bytes(blob)
    return out
