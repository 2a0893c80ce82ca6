"""Tier B's work dir and /tmp: host directories, so their size must be capped by the host.

Tier A's are tmpfs mounts inside bwrap's mount namespace. Tier B has no mount namespace, so where the host
can mount (root with CAP_SYS_ADMIN, decided once by `can_mount`) each sandbox's `work` and `tmp` become
tmpfs mounts of their own, `size=max_file_mb` and `nr_inodes=max_inodes`: a write past either fails with
ENOSPC, and the pages count in the sandbox's memory cgroup. Where it cannot (a container without
CAP_SYS_ADMIN, a non-root user), the two stay plain directories and `DiskGuard` is the cap: while the code
runs the host watches the filesystem's free blocks and inodes, and when they move by more than the budget
(or every second) it counts what the sandbox holds -- blocks of every file under the two dirs, hard links
once, plus files it deleted but keeps open -- and ends the run (`killed_by="disk"`) past the budget, or
when the filesystem's free space falls under a reserve. RLIMIT_FSIZE caps each file in both cases.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

_MS_NOSUID = 0x2
_MS_NODEV = 0x4
_MNT_DETACH = 0x2
_SCAN_EVERY_S = 1.0
_MAX_DEPTH = 64
_RESERVE_BYTES = 1 << 30
_RESERVE_FRACTION = 0.05

_libc: ctypes.CDLL | None = None


def _lib() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def mount_tmpfs(path: Path, *, size_bytes: int, inodes: int, uid: int | None) -> None:
    """Mount a tmpfs of `size_bytes` and `inodes` on `path`, owned by `uid`; OSError where not allowed."""
    opts = f"size={size_bytes},nr_inodes={inodes},mode=0700"
    if uid is not None:
        opts += f",uid={uid},gid={uid}"
    if _lib().mount(b"nativa-sandbox", os.fsencode(path), b"tmpfs", _MS_NOSUID | _MS_NODEV, opts.encode()) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount tmpfs on {path}: {os.strerror(err)}")


def unmount(path: Path) -> None:
    """Detach a mount (lazily: open files do not keep it busy); nothing happens where none is mounted."""
    if os.path.ismount(path):
        _lib().umount2(os.fsencode(path), _MNT_DETACH)


def can_mount() -> bool:
    """Whether this process may mount a tmpfs (tried once, on a directory of its own)."""
    if os.geteuid() != 0:
        return False
    probe = Path(tempfile.mkdtemp(prefix="nativa-mount-probe-"))
    try:
        mount_tmpfs(probe, size_bytes=1 << 20, inodes=16, uid=None)
    except OSError:
        return False
    else:
        unmount(probe)
        return True
    finally:
        with contextlib.suppress(OSError):
            probe.rmdir()


def remove(base: Path) -> None:
    """Remove a work dir tree made by `create`, mounts first (rmtree would stop at a mount point)."""
    for sub in ("work", "tmp"):
        with contextlib.suppress(OSError):
            unmount(base / sub)
    shutil.rmtree(base, ignore_errors=True)


def create(base: Path, *, uid: int | None, mount: bool, size_bytes: int, inodes: int) -> tuple[Path, Path]:
    """`base/work` and `base/tmp`, owned by `uid`, each a capped tmpfs when `mount` (OSError if that fails)."""
    work, tmp = base / "work", base / "tmp"
    base.mkdir(mode=0o755)
    os.chmod(base, 0o755)
    for d in (work, tmp):
        d.mkdir(mode=0o700)
        if mount:
            mount_tmpfs(d, size_bytes=size_bytes, inodes=inodes, uid=uid)
        elif uid is not None:
            os.chown(d, uid, uid)
    return work, tmp


class DiskGuard:
    """The host-side byte and file budget of a tier B work dir and /tmp that are not tmpfs mounts."""

    def __init__(self, dirs: Iterable[Path], *, size_bytes: int, inodes: int,
                 pids: Callable[[], list[int]]) -> None:
        self.dirs = list(dirs)
        self.size_bytes = size_bytes
        self.inodes = inodes
        self._pids = pids
        self._base = self._fs()
        self._last_scan = time.monotonic()

    def _fs(self) -> tuple[int, int, int, int]:
        st = os.statvfs(self.dirs[0])
        return ((st.f_blocks - st.f_bfree) * st.f_frsize, st.f_files - st.f_ffree, st.f_bavail * st.f_frsize,
                st.f_blocks * st.f_frsize)

    def begin(self) -> None:
        """A run starts: movements of the filesystem are measured from here."""
        self._base = self._fs()

    def over(self) -> str | None:
        """Why the sandbox is past its budget (a sentence), or None; cheap unless the filesystem moved."""
        used, files, free, total = self._fs()
        reserve = min(_RESERVE_BYTES, int(total * _RESERVE_FRACTION))
        if free < reserve <= self._base[2]:
            return f"the host filesystem of the work dir fell under its {reserve >> 20} MB reserve"
        now = time.monotonic()
        moved = used - self._base[0] > self.size_bytes or files - self._base[1] > self.inodes
        if not moved and now - self._last_scan < _SCAN_EVERY_S:
            return None
        self._last_scan = now
        return self.scan()

    def scan(self) -> str | None:
        """Count what the sandbox holds on disk, stopping as soon as it is over the budget: each dir at most
        `size_bytes` and `inodes`, and all of it, deleted-but-open files included, at most their sum."""
        seen: set[tuple[int, int]] = set()
        total = 0
        for d in self.dirs:
            tally = [0, 0]  # bytes, entries
            fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                over = self._walk(fd, 0, tally, seen)
            finally:
                os.close(fd)
            if over:
                return f"{d.name} holds more than {self.size_bytes >> 20} MB or {self.inodes} files, or is deeper than {_MAX_DEPTH}"
            total += tally[0]
        if total + self._deleted_open_bytes(seen) > self.size_bytes * len(self.dirs):
            return f"with deleted files still open, it holds more than {self.size_bytes * len(self.dirs) >> 20} MB"
        return None

    def _walk(self, dir_fd: int, depth: int, tally: list[int], seen: set[tuple[int, int]]) -> bool:
        """Add a directory's blocks and entries to `tally`; True when over the budget. Directories are opened
        relative to their parent with O_NOFOLLOW (the code may swap one for a symlink at any moment), and a
        tree deeper than _MAX_DEPTH counts as over (past PATH_MAX a path-based walk would miss it)."""
        if depth > _MAX_DEPTH:
            return True
        subdirs = []
        with os.scandir(dir_fd) as it:
            for entry in it:
                tally[1] += 1
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    subdirs.append(entry.name)
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    tally[0] += st.st_blocks * 512
                if tally[1] > self.inodes or tally[0] > self.size_bytes:
                    return True
        for name in subdirs:
            try:
                fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
            except OSError:
                continue
            try:
                if self._walk(fd, depth + 1, tally, seen):
                    return True
            finally:
                os.close(fd)
        return False

    def _deleted_open_bytes(self, seen: set[tuple[int, int]]) -> int:
        """Space held by files the code unlinked but keeps open (invisible to a directory walk)."""
        dev = os.stat(self.dirs[0]).st_dev
        total = 0
        for pid in self._pids():
            with contextlib.suppress(OSError):
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    with contextlib.suppress(OSError):
                        st = os.stat(f"/proc/{pid}/fd/{fd}")
                        key = (st.st_dev, st.st_ino)
                        if stat.S_ISREG(st.st_mode) and st.st_nlink == 0 and st.st_dev == dev and key not in seen:
                            seen.add(key)
                            total += st.st_blocks * 512
        return total
