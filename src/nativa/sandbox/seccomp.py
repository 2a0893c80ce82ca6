"""The seccomp filter: which syscalls model-written code may not make, compiled once per process to BPF.

The filter is a deny-list on top of the other layers, not the only wall: it refuses the calls that turn a
bug in one layer into an escape (new namespaces, mounts, ptrace, kernel keyrings, BPF, io_uring, module
loading) and every socket family but AF_UNIX unless the caller asked for the network. Where the sandbox
has no mount namespace (tier B, weak) or shares the host's network namespace (network allowed), AF_UNIX
goes too (`deny_unix`): seccomp cannot read connect()'s address, and Landlock has no rule for connecting
to a socket by path, so the socket itself is refused. `socketpair()` stays (asyncio, multiprocessing pipes)
for connected stream and seqpacket pairs; a datagram pair is refused, since sendto() on it can name any
socket path. Refused calls fail
with EPERM (clone3 with ENOSYS, so libc falls back to clone, whose flags *can* be inspected), which the
code sees as an ordinary `PermissionError` instead of a mysterious kill.

The program is exported as raw BPF so the same bytes serve bwrap's `--seccomp FD` (tier A) and the
runner's own `prctl(PR_SET_SECCOMP)` (tier B); only the host needs libseccomp.
"""

from __future__ import annotations

import errno
import os
import threading

DENIED_SYSCALLS: tuple[str, ...] = (
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
    "mount", "umount2", "pivot_root", "chroot", "mount_setattr", "move_mount", "open_tree",
    "fsopen", "fsconfig", "fsmount", "fspick",
    "unshare", "setns",
    "bpf", "perf_event_open", "userfaultfd", "fanotify_init",
    "keyctl", "add_key", "request_key",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
    "open_by_handle_at", "name_to_handle_at",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "swapon", "swapoff", "reboot", "acct", "quotactl", "syslog", "vhangup", "uselib", "lookup_dcookie",
    "iopl", "ioperm", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
)
"""Refused with EPERM in every sandbox."""

_CLONE_NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000,
                          0x00000080)  # CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME
_TIOCSTI = 0x5412  # push characters into the terminal's input queue
_TIOCLINUX = 0x541C
_AF_UNIX = 1

_SOCK_TYPE_MASK = 0xF  # SOCK_NONBLOCK / SOCK_CLOEXEC live in the upper bits of socket()'s type
_SOCK_STREAM = 1
_SOCK_SEQPACKET = 5

_cache: dict[tuple[bool, bool], bytes] = {}
_lock = threading.Lock()


def available() -> bool:
    """Whether this host can build filters (libseccomp via pyseccomp)."""
    try:
        import pyseccomp  # noqa: F401
    except (ImportError, RuntimeError, OSError):
        return False
    return True


def bpf_program(*, allow_network: bool, deny_unix: bool = False) -> bytes:
    """The compiled filter for one network and AF_UNIX setting; cached, since building it costs ~1 ms."""
    key = (allow_network, deny_unix)
    with _lock:
        if key not in _cache:
            _cache[key] = _build(allow_network, deny_unix)
        return _cache[key]


def _build(allow_network: bool, deny_unix: bool = False) -> bytes:
    import pyseccomp as sc

    eperm = sc.ERRNO(errno.EPERM)
    flt = sc.SyscallFilter(sc.ALLOW)
    arch = sc.system_arch()

    def add(action: int, name: str, *args: sc.Arg) -> None:
        try:
            sc.resolve_syscall(arch, name)
        except (OSError, ValueError, RuntimeError):
            return  # this architecture has no such syscall
        flt.add_rule(action, name, *args)

    for name in DENIED_SYSCALLS:
        add(eperm, name)
    add(sc.ERRNO(errno.ENOSYS), "clone3")
    for flag in _CLONE_NAMESPACE_FLAGS:
        add(eperm, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    for request in (_TIOCSTI, _TIOCLINUX):
        add(eperm, "ioctl", sc.Arg(1, sc.MASKED_EQ, 0xFFFFFFFF, request))
    if not allow_network:
        add(sc.ERRNO(errno.EPERM), "socket", sc.Arg(0, sc.NE, _AF_UNIX))
        add(sc.ERRNO(errno.EPERM), "socketpair", sc.Arg(0, sc.NE, _AF_UNIX))
    if deny_unix:
        add(eperm, "socket", sc.Arg(0, sc.EQ, _AF_UNIX))
        for kind in range(_SOCK_TYPE_MASK + 1):
            if kind not in (_SOCK_STREAM, _SOCK_SEQPACKET):
                add(eperm, "socketpair", sc.Arg(0, sc.EQ, _AF_UNIX), sc.Arg(1, sc.MASKED_EQ, _SOCK_TYPE_MASK, kind))
    fd = os.memfd_create("nativa-seccomp", os.MFD_CLOEXEC)
    try:
        with os.fdopen(os.dup(fd), "wb") as fh:
            flt.export_bpf(fh)
        os.lseek(fd, 0, os.SEEK_SET)
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


def program_fd(bpf: bytes) -> int:
    """A fresh readable fd holding `bpf` from offset 0: bwrap and the runner each consume one."""
    fd = os.memfd_create("nativa-seccomp", os.MFD_CLOEXEC)
    os.write(fd, bpf)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
