"""Host-side bookkeeping shared by all sandboxes of all nativa processes: runtime dir, uid leases, sweeping.

Sandboxes run at the same time must not share a uid (RLIMIT_NPROC counts per uid, and a process may
signal any other of its uid), so each takes a *lease* on one uid of a private range: an exclusive `flock`
on `<runtime>/uids/<uid>.lock`. The kernel drops the lock when its holder dies, however it dies, so a
lease can never leak; a free lock whose uid still has processes marks leftovers of a killed host, which
`sweep()` kills. Likewise, work dirs and cgroups are named `sb-<host pid>-...`, and those of dead host pids
are removed by the first sandbox a later process creates.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import platform
import signal
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from nativa.config import load_settings
from nativa.errors import SandboxError
from nativa.sandbox import cgroups, workdir

UID_BASE = 1_600_000_000
"""First uid of the private range: far above distribution users and the usual subuid ranges."""
UID_SLOTS = 1024

_counter = itertools.count()
_swept = False
_sweep_lock = threading.Lock()


def runtime_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """`/run/nativa` as root, else `$XDG_RUNTIME_DIR/nativa` or `<tmp>/nativa-<uid>`; made 0755, root-owned."""
    if override:
        path = Path(override)
    elif os.geteuid() == 0:
        path = Path("/run/nativa")
    elif (xdg := load_settings().xdg_runtime_dir) is not None:
        path = xdg / "nativa"
    else:
        path = Path(tempfile.gettempdir()) / f"nativa-{os.geteuid()}"
    for sub in ("", "uids", "work"):
        d = path / sub
        d.mkdir(mode=0o755, parents=True, exist_ok=True)
        st = os.lstat(d)
        # In a shared /tmp someone else may have created the path first: never use a dir we do not own.
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
            raise SandboxError(f"sandbox runtime dir {d} is not a directory owned by uid {os.geteuid()}; "
                               "remove it or pass runtime_dir= a private directory")
        if stat.S_IMODE(st.st_mode) != 0o755:
            os.chmod(d, 0o755)  # not world-writable, but traversable by the sandbox uids (tier B work dirs)
    return path


def unique_name() -> str:
    """`sb-<pid>-<n>`: the pid tells a sweeper whether the owner is still alive."""
    return f"sb-{os.getpid()}-{next(_counter)}"


def owner_alive(name: str) -> bool:
    """Whether the process that made the `sb-<pid>-<n>` entry still runs; a name that is not ours counts
    as alive, so the sweeper leaves it alone."""
    parts = name.split("-")
    if len(parts) < 3 or parts[0] != "sb" or not parts[1].isdigit():
        return True  # not ours: leave it alone
    pid = int(parts[1])
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class UidLease:
    """An exclusive claim on one sandbox uid, held by an open, flocked file until `release()`."""

    def __init__(self, uid: int, fd: int) -> None:
        self.uid = uid
        self._fd: int | None = fd

    def release(self) -> None:
        """Give the uid back (closing the file drops the flock); a second call does nothing."""
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


_next_slot = itertools.count()


def lease_uid(root: Path) -> UidLease:
    """Take the next free uid of the range (round-robin, so a just-freed uid is not reused at once)."""
    start = next(_next_slot) + os.getpid()
    for i in range(UID_SLOTS):
        uid = UID_BASE + (start + i) % UID_SLOTS
        fd = os.open(root / "uids" / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return UidLease(uid, fd)
    raise SandboxError(f"all {UID_SLOTS} sandbox uids ({UID_BASE}..{UID_BASE + UID_SLOTS - 1}) are in use")


def uid_processes(uids: set[int] | range) -> dict[int, int]:
    """pid -> uid of every process whose real uid is in `uids` (a /proc scan, ~1 ms)."""
    found: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            uid = os.stat(entry.path).st_uid
        except OSError:
            continue
        if uid in uids and not _is_zombie(entry.path):
            found[int(entry.name)] = uid
    return found


def _is_zombie(proc_path: str) -> bool:
    """A zombie is already dead (it only waits for init to reap it): not a leftover, and unkillable."""
    try:
        with open(proc_path + "/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return True  # gone already
    return stat[stat.rfind(b")") + 2: stat.rfind(b")") + 3] in (b"Z", b"X")


def _state(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return b"X"
    return data[data.rfind(b")") + 2: data.rfind(b")") + 3]


def stop_processes(list_pids: Callable[[], list[int]], rounds: int = 200) -> list[int] | None:
    """SIGSTOP every process `list_pids` finds, until one listing finds all of them stopped.

    A process forked while the others were being stopped shows up in the next listing; once a listing holds
    only stopped (or dead) processes, nothing is left that could fork or run. None when that never happens.
    SIGSTOP, unlike a v1 cgroup freezer, leaves a SIGKILL (the host's, or a parent-death signal) effective.
    """
    for i in range(rounds):
        pids = list_pids()
        running = [pid for pid in pids if _state(pid) not in (b"T", b"t", b"Z", b"X")]
        if not running:
            return pids
        for pid in running:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGSTOP)
        if i:
            time.sleep(0.0005 * min(i, 10))  # the signal takes effect when the process is next scheduled
    return None


_READ_SYSCALL = {"x86_64": 0, "aarch64": 63}.get(platform.machine())
_PYTHON_SIGINT = 1 << (signal.SIGINT - 1)


def idle_reader(pid: int) -> bool:
    """Whether `pid` is single-threaded and blocked in read() on a pipe, with no POSIX timer and no signal
    handler but Python's own SIGINT one: it cannot run again until someone writes to that pipe.

    Stopping a session's processes costs milliseconds on a loaded host; when the only process besides the
    supervisor is the interpreter waiting for its next request, there is nothing to stop.
    """
    if _READ_SYSCALL is None:
        return False
    try:
        call = _read_text(f"/proc/{pid}/syscall")
        parts = call.split()
        if int(parts[0]) != _READ_SYSCALL:
            return False  # "running", or another syscall
        status = dict(line.split(":", 1) for line in _read_text(f"/proc/{pid}/status").splitlines() if ":" in line)
        if status["Threads"].strip() != "1" or int(status["SigCgt"], 16) & ~_PYTHON_SIGINT:
            return False
        if _read_text(f"/proc/{pid}/timers").strip():
            return False
        if not os.readlink(f"/proc/{pid}/fd/{int(parts[1], 16)}").startswith("pipe:"):
            return False
        return _read_text(f"/proc/{pid}/syscall") == call  # the same read() throughout these checks
    except (OSError, ValueError, IndexError, KeyError):
        return False


def uid_of(pid: int) -> int | None:
    """The uid a process runs as, or None once it has exited."""
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def children(pid: int) -> list[int]:
    """The direct children of `pid` (of its main thread), or [] when it is gone."""
    try:
        return [int(x) for x in _read_text(f"/proc/{pid}/task/{pid}/children").split()]
    except (OSError, ValueError):
        return []


def start_time(pid: int) -> int:
    """When the process started, in clock ticks since boot (set by the kernel at fork: it cannot be faked)."""
    try:
        return int(_read_text(f"/proc/{pid}/stat").rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return 1 << 62


def _read_text(path: str) -> str:
    with open(path) as fh:
        return fh.read()


def continue_processes(pids: list[int]) -> None:
    """SIGCONT each process; one that has exited meanwhile is skipped."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGCONT)


def kill_uid(uid: int, rounds: int = 50) -> None:
    """SIGKILL every process of `uid` until none is left (tiers without a pid namespace need this)."""
    for _ in range(rounds):
        pids = uid_processes({uid})
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.002)


def sweep(root: Path, support: cgroups.CgroupSupport | None) -> dict[str, int]:
    """Remove what killed hosts left behind: processes on free uids, work dirs and cgroups of dead pids."""
    stats = {"processes": 0, "work_dirs": 0, "cgroups": 0}
    if os.geteuid() == 0:
        for pid, uid in uid_processes(range(UID_BASE, UID_BASE + UID_SLOTS)).items():
            fd = os.open(root / "uids" / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live sandbox holds this uid
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    stats["processes"] += 1
            finally:
                os.close(fd)
    with contextlib.suppress(OSError):
        for entry in os.scandir(root / "work"):
            if entry.name.startswith("sb-") and not owner_alive(entry.name):
                workdir.remove(Path(entry.path))
                stats["work_dirs"] += 1
    if support is not None:
        for parent in support.parents:
            with contextlib.suppress(OSError):
                for entry in os.scandir(parent):
                    stale = entry.is_dir() and entry.name.startswith("sb-") and not owner_alive(entry.name)
                    if stale and cgroups.remove_cgroup_dirs([Path(entry.path)]):
                        stats["cgroups"] += 1
    return stats


def sweep_once(root: Path, support: cgroups.CgroupSupport | None) -> None:
    """Sweep on the first sandbox of this process only: later ones would find nothing new."""
    global _swept
    with _sweep_lock:
        if not _swept:
            _swept = True
            sweep(root, support)
