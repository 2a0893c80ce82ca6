"""Per-sandbox cgroups: a memory ceiling that counts every process and tmpfs page, a pids ceiling, and the
CPU time of all the sandbox's processes together.

rlimits are per process (a fork gets a fresh RLIMIT_AS and a fresh RLIMIT_CPU count) and RLIMIT_NPROC is per
uid; a cgroup is the only limit that holds for a sandbox as a whole, the only complete CPU account of a run
(exited processes included), and the only complete list of its processes to kill. CPU time is read from
cgroup v1's `cpuacct.usage` or v2's `cpu.stat` (present in every v2 cgroup, controller enabled or not). Both
cgroup v1 (one hierarchy per controller, as on these machines) and v2 (one unified tree) are handled;
where neither is writable the layer is simply absent and the probe says so.

Each sandbox gets `<controller root>/<our own cgroup>/nativa/sb-<host pid>-<n>`: nesting under our own
cgroup keeps us inside whatever limits the host already has, and the host pid in the name lets a later
process sweep the leftovers of one that was killed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

_PARENT = "nativa"


@dataclass(frozen=True)
class CgroupSupport:
    """Where per-sandbox cgroups can be created on this host (paths are the `nativa` parents)."""

    version: int | None = None  # 1, 2 or None
    memory: Path | None = None
    pids: Path | None = None
    notes: list[str] = field(default_factory=list)
    cpu: Path | None = None

    @property
    def layers(self) -> list[str]:
        """The isolation layers these cgroups add to a run (`cgroup-memory`, ...), as reports list them."""
        return [name for name, p in (("cgroup-memory", self.memory), ("cgroup-pids", self.pids),
                                     ("cgroup-cpu", self.cpu)) if p]

    @property
    def parents(self) -> list[Path]:
        """Each distinct parent directory (one in v2, one per controller in v1)."""
        return list(dict.fromkeys(p for p in (self.memory, self.pids, self.cpu) if p))


def _mounts() -> list[tuple[str, str, set[str]]]:
    out = []
    with contextlib.suppress(OSError), open("/proc/self/mounts") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) >= 4 and parts[2] in ("cgroup", "cgroup2"):
                out.append((parts[1].replace("\\040", " "), parts[2], set(parts[3].split(","))))
    return out


def _own_paths() -> dict[str, str]:
    """Controller (or '' for v2) -> our cgroup path, from /proc/self/cgroup."""
    own: dict[str, str] = {}
    with contextlib.suppress(OSError), open("/proc/self/cgroup") as fh:
        for line in fh:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for c in controllers.split(",") if controllers else [""]:
                own[c] = path
    return own


def _prepare(parent: Path) -> bool:
    try:
        parent.mkdir(exist_ok=True)
    except OSError:
        return False
    return os.access(parent, os.W_OK)


def detect() -> CgroupSupport:
    """Find writable memory and pids controllers; v1 per-controller mounts win over v2's unified tree."""
    own = _own_paths()
    notes: list[str] = []
    found: dict[str, Path] = {}
    for mount, fstype, opts in _mounts():
        if fstype != "cgroup":
            continue
        for ctl in ("memory", "pids", "cpuacct"):
            if ctl in opts and ctl in own and ctl not in found:
                parent = Path(mount + own[ctl].rstrip("/")) / _PARENT
                if _prepare(parent):
                    found[ctl] = parent
                else:
                    notes.append(f"cgroup v1 {ctl} at {parent.parent} is not writable")
    if not found:
        v2 = _detect_v2(own, notes)
        if v2 is not None:
            return v2
        if not notes:
            notes.append("no cgroup memory/pids/cpuacct controller found")
        return CgroupSupport(notes=notes)
    if "cpuacct" not in found:
        notes.append("no writable cgroup v1 cpuacct controller: CPU time is bounded per process only")
    return CgroupSupport(version=1, memory=found.get("memory"), pids=found.get("pids"), cpu=found.get("cpuacct"),
                         notes=notes)


def _detect_v2(own: dict[str, str], notes: list[str]) -> CgroupSupport | None:
    """v2: our own cgroup holds processes, so controllers can be delegated only below a process-free parent."""
    for mount, fstype, _ in _mounts():
        if fstype != "cgroup2" or "" not in own:
            continue
        root = Path(mount)
        candidates = [root / own[""].lstrip("/"), root]
        for base in candidates:
            try:
                enabled = (base / "cgroup.subtree_control").read_text().split()
            except OSError:
                continue
            if "memory" not in enabled and "pids" not in enabled:
                continue
            parent = base / _PARENT
            if not _prepare(parent):
                continue
            with contextlib.suppress(OSError):
                (parent / "cgroup.subtree_control").write_text(
                    " ".join(f"+{c}" for c in ("memory", "pids") if c in enabled))
            try:
                active = (parent / "cgroup.subtree_control").read_text().split()
            except OSError:
                active = []
            mem = parent if "memory" in active else None
            pids = parent if "pids" in active else None
            if mem or pids:
                return CgroupSupport(version=2, memory=mem, pids=pids, notes=notes, cpu=parent)
        notes.append(f"cgroup v2 at {mount}: memory/pids cannot be delegated to a nativa cgroup")
    return None


class SandboxCgroup:
    """The cgroup(s) of one sandbox: create, limit, join (via fds handed to the runner), kill, remove."""

    def __init__(self, support: CgroupSupport, name: str, *, memory_bytes: int, max_pids: int) -> None:
        self.support = support
        self.dirs: list[Path] = []
        self.memory_dir: Path | None = None
        self.pids_dir: Path | None = None
        self.cpu_dir: Path | None = None
        for parent in support.parents:
            d = parent / name
            d.mkdir()
            self.dirs.append(d)
            if parent == support.memory:
                self.memory_dir = d
            if parent == support.pids:
                self.pids_dir = d
            if parent == support.cpu:
                self.cpu_dir = d
        self.set_memory(memory_bytes)
        if self.pids_dir is not None:
            _write(self.pids_dir / "pids.max", str(max_pids))
        self._oom_base = self.oom_kills()

    def set_memory(self, memory_bytes: int) -> None:
        """Set the memory limit (swap off, so the limit is real); a pooled sandbox gets each run's own limit."""
        d = self.memory_dir
        if d is None:
            return
        if self.support.version == 1:
            _write(d / "memory.limit_in_bytes", str(memory_bytes))
            if (d / "memory.memsw.limit_in_bytes").exists():
                with contextlib.suppress(OSError):
                    _write(d / "memory.memsw.limit_in_bytes", str(memory_bytes))
        else:
            _write(d / "memory.max", str(memory_bytes))
            with contextlib.suppress(OSError):
                _write(d / "memory.swap.max", "0")

    def join_fds(self) -> list[int]:
        """Write-only fds on `cgroup.procs`: the supervisor writes "0" to each to move itself in, then closes them.

        Joining from inside avoids a `preexec_fn` (unsafe with threads, and it forbids vfork). The fds are
        opened by root, so they must be closed before any user code runs; the supervisor does that before it
        forks the executor.
        """
        return [os.open(d / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC) for d in self.dirs]

    def attach(self, pid: int) -> bool:
        """Move process `pid` into this sandbox's cgroups; False when it has already exited."""
        try:
            for d in self.dirs:
                _write(d / "cgroup.procs", str(pid))
        except ProcessLookupError:
            return False
        return True

    def oom_kills(self) -> int:
        """How many processes the kernel's OOM killer has killed in this cgroup so far."""
        d = self.memory_dir
        if d is None:
            return 0
        name = "memory.oom_control" if self.support.version == 1 else "memory.events"
        try:
            for line in (d / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def cpu_usage_s(self) -> float | None:
        """CPU seconds used by every process that has been in this cgroup (None: no CPU accounting here)."""
        d = self.cpu_dir
        if d is None:
            return None
        try:
            if self.support.version == 1:
                return int((d / "cpuacct.usage").read_text()) / 1e9
            for line in (d / "cpu.stat").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) / 1e6
        except (OSError, ValueError):
            pass
        return None

    def pids(self) -> list[int]:
        """Every process in this sandbox's cgroups now, so a session can be paused and leftovers found."""
        found: set[int] = set()
        for d in self.dirs:
            with contextlib.suppress(OSError, ValueError):
                found.update(int(x) for x in (d / "cgroup.procs").read_text().split())
        return sorted(found)

    def kill_all(self) -> None:
        """SIGKILL every process in the cgroups, however it forked or changed its uid."""
        kill_cgroup_dirs(self.dirs)

    def remove(self) -> None:
        """Kill what is left, then remove the directories (retrying while the kernel finishes the exits)."""
        remove_cgroup_dirs(self.dirs)


def _write(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def kill_cgroup_dirs(dirs: list[Path]) -> None:
    """SIGKILL every process in the directories (`cgroup.kill` where the kernel has it), repeating while
    processes are still forking."""
    for d in dirs:
        kill_file = d / "cgroup.kill"
        if kill_file.exists():
            with contextlib.suppress(OSError):
                _write(kill_file, "1")
        for _ in range(100):
            try:
                pids = [int(x) for x in (d / "cgroup.procs").read_text().split()]
            except (OSError, ValueError):
                break
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.002)


def remove_cgroup_dirs(dirs: list[Path], timeout_s: float = 2.0) -> bool:
    """Kill what is left, then remove the directories, retrying while the kernel finishes the exits;
    False when one could not be removed in time."""
    kill_cgroup_dirs(dirs)
    ok = True
    for d in dirs:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                d.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError as exc:
                if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                    ok = False
                    break
                kill_cgroup_dirs([d])
                time.sleep(0.005)
    return ok
