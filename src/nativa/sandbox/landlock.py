"""Tier B confinement: Landlock, uid drop, no-new-privs and a seccomp filter, applied by a process to itself.

Tier B exists for hosts where bubblewrap cannot create namespaces (typically inside Docker). There is no
mount namespace, so the runner confines *itself* before it reads the first snippet: the kernel then
enforces, for it and every child, which paths may be read or written (Landlock), that TCP is off and
signals and abstract sockets cannot leave the domain (Landlock ABI >= 4 / >= 6), that it runs as an
unprivileged uid with an empty bounding set, and which syscalls are refused (seccomp).

This module is imported by the host (for `abi_version`) *and* loaded by path inside the runner, which runs
with `-I -S` and no site-packages: it may import only the standard library, and it must stay cheap.
"""

from __future__ import annotations

import ctypes
import os
import signal
from typing import Any

# Landlock's syscall numbers are the same on every architecture that nativa runs on (x86_64, aarch64).
_SYS_CREATE_RULESET = 444
_SYS_ADD_RULE = 445
_SYS_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1

# Filesystem access rights, by the ABI version that introduced them.
FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13  # ABI 2
FS_TRUNCATE = 1 << 14  # ABI 3
FS_IOCTL_DEV = 1 << 15  # ABI 5
NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1  # ABI 6

_FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
_READ_EXEC = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR

_PR_SET_PDEATHSIG = 1
_PR_SET_SECCOMP = 22
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_SECCOMP_MODE_FILTER = 2


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_libc: Any = None


def _lib() -> Any:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
        _libc.prctl.restype = ctypes.c_int
    return _libc


def _check(rc: int, what: str) -> int:
    if rc < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return rc


def abi_version() -> int:
    """The kernel's Landlock ABI version, or 0 when Landlock is missing or disabled."""
    try:
        rc = _lib().syscall(ctypes.c_long(_SYS_CREATE_RULESET), None, ctypes.c_size_t(0),
                            ctypes.c_uint32(_CREATE_RULESET_VERSION))
    except (OSError, AttributeError):
        return 0
    return int(rc) if rc > 0 else 0


def handled_fs(abi: int) -> int:
    """Every filesystem right this ABI knows: what is not explicitly allowed below is then denied."""
    rights = (1 << 13) - 1
    if abi >= 2:
        rights |= FS_REFER
    if abi >= 3:
        rights |= FS_TRUNCATE
    if abi >= 5:
        rights |= FS_IOCTL_DEV
    return rights


def restrict(ro: list[str], rw: list[str], rw_files: list[str], *, deny_tcp: bool) -> list[str]:
    """Allow read+exec beneath `ro`, everything beneath `rw`, read/write on `rw_files`; deny the rest.

    Returns the Landlock layers in force. Raises OSError when Landlock is unavailable, so a caller never
    believes it is confined when it is not.
    """
    abi = abi_version()
    if abi < 1:
        raise OSError(38, "Landlock is not available in this kernel")
    fs = handled_fs(abi)
    attr = _RulesetAttr(handled_access_fs=fs)
    size = 8
    layers = ["landlock-fs"]
    if abi >= 4 and deny_tcp:
        attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP
        size = 16
        layers.append("landlock-net")
    if abi >= 6:
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
        size = 24
        layers.append("landlock-scope")
    lib = _lib()
    rs = _check(lib.syscall(ctypes.c_long(_SYS_CREATE_RULESET), ctypes.byref(attr), ctypes.c_size_t(size),
                            ctypes.c_uint32(0)), "landlock_create_ruleset")
    try:
        for paths, rights in ((ro, _READ_EXEC), (rw, fs), (rw_files, FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE)):
            for path in paths:
                try:
                    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                except FileNotFoundError:
                    continue
                try:
                    allowed = rights & fs
                    if not os.path.isdir(path):
                        allowed &= _FILE_RIGHTS
                    rule = _PathBeneathAttr(allowed_access=allowed, parent_fd=fd)
                    _check(lib.syscall(ctypes.c_long(_SYS_ADD_RULE), ctypes.c_int(rs),
                                       ctypes.c_int(_RULE_PATH_BENEATH), ctypes.byref(rule), ctypes.c_uint32(0)),
                           f"landlock_add_rule {path}")
                finally:
                    os.close(fd)
        _check(lib.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
        _check(lib.syscall(ctypes.c_long(_SYS_RESTRICT_SELF), ctypes.c_int(rs), ctypes.c_uint32(0)),
               "landlock_restrict_self")
    finally:
        os.close(rs)
    return layers


def load_seccomp(bpf: bytes) -> None:
    """Install a classic-BPF seccomp program (as exported by libseccomp) on the calling thread."""
    if not bpf or len(bpf) % 8:
        raise OSError(22, "seccomp program is empty or not a whole number of instructions")
    buf = ctypes.create_string_buffer(bpf, len(bpf))
    prog = _SockFprog(len=len(bpf) // 8, filter=ctypes.cast(buf, ctypes.c_void_p))
    lib = _lib()
    _check(lib.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    _check(lib.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0), "prctl(SET_SECCOMP)")


def drop_privileges(uid: int, gid: int) -> None:
    """Empty the capability bounding set, then become `uid`/`gid` for real, effective and saved ids.

    Changing all three ids away from 0 clears the permitted and effective capabilities; the emptied bounding
    set plus no-new-privs (set later) mean no exec can give any back.
    """
    lib = _lib()
    for cap in range(64):
        if lib.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) < 0:
            break  # EINVAL: past the last capability this kernel knows
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise OSError(1, "uid drop did not take effect")


def confine(cfg: dict[str, Any]) -> None:
    """Apply the whole tier B (or weak) confinement described by `cfg`, in the only order that works.

    The uid drop comes before the parent-death signal (a credential change clears it), and seccomp comes
    last so that the calls made here are not themselves filtered.
    """
    host_pid = int(cfg.get("host_pid", 0))
    if cfg.get("uid") is not None:
        drop_privileges(int(cfg["uid"]), int(cfg["gid"]))
    _check(_lib().prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0), "prctl(PDEATHSIG)")
    if host_pid and os.getppid() != host_pid:
        os._exit(70)  # the host died before the death signal was armed
    _check(_lib().prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    if cfg.get("landlock"):
        restrict(list(cfg["ro"]), list(cfg["rw"]), list(cfg["rw_files"]), deny_tcp=bool(cfg.get("deny_tcp")))
    fd = cfg.get("seccomp_fd")
    if fd is not None:
        chunks = []
        while True:
            chunk = os.read(int(fd), 65536)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(int(fd))
        load_seccomp(b"".join(chunks))
