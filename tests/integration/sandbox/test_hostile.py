"""The hostile battery of DESIGN.md, run against every strong tier: each case asserts its specific containment.

Every case prints `UID <n>` first, and every case is also checked for the common containment: it ran as an
unprivileged uid, no process of that uid survived the run, and the host's secret (in nativa's environment
and in a world-readable file) appears nowhere in what the code could print.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from nativa.sandbox import RunResult, Sandbox
from nativa.sandbox._host import host_context

pytestmark = pytest.mark.integration

SECRET = "sk-hostile-test-7f3a9c2e1b"
PRELUDE = "import os, sys\nprint('UID', os.getuid(), flush=True)\n"


@dataclass
class Host:
    """What the host exposes to a case: a loopback listener, a UDP socket, paths that must stay untouched."""

    tmp: Path
    tcp: socket.socket
    udp: socket.socket
    secret_file: Path
    targets: list[str] = field(default_factory=list)

    @property
    def tcp_port(self) -> int:
        return int(self.tcp.getsockname()[1])

    @property
    def udp_port(self) -> int:
        return int(self.udp.getsockname()[1])


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Host]:
    monkeypatch.setenv("HOSTILE_TEST_API_KEY", SECRET)
    # World-readable in a world-traversable dir on purpose (pytest's tmp_path sits under a 0700 dir): only
    # the sandbox's own walls may keep it out, not the permissions of a parent directory.
    public = Path(tempfile.mkdtemp(prefix="nativa-hostile-", dir="/var/tmp"))
    public.chmod(0o755)
    secret_file = public / "secret.txt"
    secret_file.write_text(SECRET)
    secret_file.chmod(0o644)
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen()
    tcp.setblocking(False)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.setblocking(False)
    tag = os.urandom(4).hex()
    targets = [str(tmp_path / "escape" / "written.txt"), str(public / "escape.txt"), f"/etc/nativa-escape-{tag}", f"/usr/nativa-escape-{tag}",
               f"/root/nativa-escape-{tag}", f"/tmp/nativa-escape-{tag}", f"/var/tmp/nativa-escape-{tag}",
               str(host_context().root / f"escape-{tag}"), str(Path.cwd() / f"nativa-escape-{tag}")]
    yield Host(tmp=tmp_path, tcp=tcp, udp=udp, secret_file=secret_file, targets=targets)
    tcp.close()
    udp.close()
    shutil.rmtree(public, ignore_errors=True)


def _code(body: str, **values: Any) -> str:
    body = textwrap.dedent(body)
    for key, value in values.items():
        body = body.replace(key, repr(value))
    return PRELUDE + body


LIBC = """
import ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
def call(name, fn, *args):
    ctypes.set_errno(0)
    rc = fn(*args)
    print(name, rc, errno.errorcode.get(ctypes.get_errno(), ctypes.get_errno()))
"""


def _lines(result: RunResult, prefix: str) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith(prefix)]


# -- the cases: (code builder, run options, containment check) -----------------------------------------------

def write_outside(h: Host) -> str:
    return _code("""
        for path in __TARGETS__:
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w") as fh:
                    fh.write("escaped")
                print("WROTE-INSIDE", path)
            except OSError as exc:
                print("DENIED", path, type(exc).__name__)
    """, __TARGETS__=h.targets)


def check_write_outside(r: RunResult, h: Host) -> None:
    assert r.ok, r.stderr
    assert len(_lines(r, "WROTE-INSIDE")) + len(_lines(r, "DENIED")) == len(h.targets)
    for path in h.targets:
        assert not os.path.exists(path), f"the sandbox wrote {path} on the host"
    if r.tier == "B":  # no private mounts in tier B: Landlock must refuse every one of them
        assert len(_lines(r, "DENIED")) == len(h.targets), r.stdout


def read_secrets(h: Host) -> str:
    return _code("""
        for path in ("/etc/shadow", __SECRET_FILE__, "/proc/1/environ", "/root/.bash_history"):
            try:
                with open(path, "rb") as fh:
                    print("READ", path, fh.read(200))
            except OSError as exc:
                print("DENIED", path, type(exc).__name__)
    """, __SECRET_FILE__=str(h.secret_file))


def check_read_secrets(r: RunResult, h: Host) -> None:
    assert r.ok, r.stderr
    denied = {line.split()[1] for line in _lines(r, "DENIED")}
    assert {"/etc/shadow", str(h.secret_file)} <= denied, r.stdout
    shadow_head = Path("/etc/shadow").read_text().split(":", 1)[0] + ":" if os.access("/etc/shadow", os.R_OK) else None
    if shadow_head:
        assert "READ /etc/shadow" not in r.stdout and shadow_head + "$" not in r.stdout


def tcp_loopback(h: Host) -> str:
    return _code("""
        import socket
        try:
            socket.create_connection(("127.0.0.1", __PORT__), timeout=2)
            print("CONNECTED")
        except OSError as exc:
            print("REFUSED", type(exc).__name__, exc.errno)
    """, __PORT__=h.tcp_port)


def check_tcp_loopback(r: RunResult, h: Host) -> None:
    assert _lines(r, "REFUSED") == ["REFUSED PermissionError 1"], r.stdout  # seccomp: no AF_INET sockets
    with pytest.raises(BlockingIOError):
        h.tcp.accept()  # nothing ever reached the host's listener


def udp_loopback(h: Host) -> str:
    return _code("""
        import socket
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.sendto(b"exfiltrated", ("127.0.0.1", __PORT__))
            print("SENT")
        except OSError as exc:
            print("REFUSED", type(exc).__name__, exc.errno)
    """, __PORT__=h.udp_port)


def check_udp_loopback(r: RunResult, h: Host) -> None:
    assert _lines(r, "REFUSED") == ["REFUSED PermissionError 1"], r.stdout
    with pytest.raises(BlockingIOError):
        h.udp.recvfrom(100)


def spawn_100(h: Host) -> str:
    return _code("""
        import subprocess
        procs = []
        try:
            for _ in range(100):
                procs.append(subprocess.Popen(["sleep", "60"]))
        except OSError as exc:
            print("STOPPED", type(exc).__name__)
        print("STARTED", len(procs))
    """)


def check_spawn_100(r: RunResult, h: Host) -> None:
    started = int(_lines(r, "STARTED")[0].split()[1])
    assert started < 100, "the process limit did not stop 100 spawns"
    assert _lines(r, "STOPPED") == ["STOPPED BlockingIOError"], r.stdout  # EAGAIN from RLIMIT_NPROC / pids.max


def fork_bomb(h: Host) -> str:
    return _code("""
        while True:
            try:
                os.fork()
            except OSError:
                pass
    """)


def check_fork_bomb(r: RunResult, h: Host) -> None:
    assert r.killed_by == "timeout" and r.error_type == "TimeoutError"
    assert r.duration_s < 8


def alloc_8g(h: Host) -> str:
    return _code("block = bytearray(8 * 1024 ** 3)\nprint('ALLOCATED')\n")


def alloc_700m(h: Host) -> str:
    return _code("block = bytearray(700 * 1024 ** 2)\nprint('ALLOCATED')\n")


def check_memory(r: RunResult, h: Host) -> None:
    assert not r.ok and "ALLOCATED" not in r.stdout
    assert r.error_type == "MemoryError" and r.killed_by == "memory"
    assert 'File "main.py", line 3' in (r.traceback or "")


def infinite_loop(h: Host) -> str:
    return _code("while True:\n    pass\n")


def check_infinite_loop(r: RunResult, h: Host) -> None:
    assert r.killed_by == "timeout" and not r.ok and r.exit_code == -9
    # The wall clock or the CPU budget (whichever the busy loop reaches first) ends it, never much later.
    assert r.duration_s < 4.0
    assert r.duration_s >= 1.0 or (r.cpu_s or 0.0) >= 1.0, (r.duration_s, r.cpu_s)


def output_100mb(h: Host) -> str:
    return _code("chunk = 'x' * 1_000_000\nfor _ in range(100):\n    sys.stdout.write(chunk)\n")


def check_output_100mb(r: RunResult, h: Host) -> None:
    assert r.killed_by == "output" and r.error_type == "OutputLimitExceeded"
    assert r.stdout_truncated and not r.stderr_truncated
    assert len(r.stdout.encode()) == 1_000_000  # exactly the cap is kept


def daemon_double_fork(h: Host) -> str:
    return _code("""
        import time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                while True:
                    time.sleep(0.1)
            os._exit(0)
        print("PARENT-DONE")
    """)


def check_daemon(r: RunResult, h: Host) -> None:
    assert r.ok and "PARENT-DONE" in r.stdout
    assert r.duration_s < 5  # the run did not wait for the daemon; the leftover check proves it is gone


def env_secret(h: Host) -> str:
    return _code("print('ENV', sorted(os.environ.items()))\n")


def check_env_secret(r: RunResult, h: Host) -> None:
    assert r.ok
    env = dict(eval(_lines(r, "ENV")[0][4:]))
    assert "HOSTILE_TEST_API_KEY" not in env
    allowed = {"PATH", "HOME", "TMPDIR", "LANG", "USER", "LOGNAME", "PYTHONDONTWRITEBYTECODE", "PYTHONUTF8", "PWD"}
    assert set(env) <= allowed, set(env) - allowed


def proc_environ(h: Host) -> str:
    return _code("""
        import glob
        seen = 0
        for path in glob.glob("/proc/*/environ") + ["/proc/%d/environ" % __HOST_PID__]:
            try:
                with open(path, "rb") as fh:
                    data = fh.read()
                seen += 1
                if b"HOSTILE_TEST_API_KEY" in data:
                    print("LEAK", path, data)
            except OSError:
                pass
        print("ENVIRONS-READ", seen)
    """, __HOST_PID__=os.getpid())


def check_proc_environ(r: RunResult, h: Host) -> None:
    assert r.ok and _lines(r, "ENVIRONS-READ") and not _lines(r, "LEAK"), r.stdout


def ctypes_socket(h: Host) -> str:
    return _code(LIBC + """
for fam, name in ((2, "AF_INET"), (10, "AF_INET6"), (16, "AF_NETLINK"), (17, "AF_PACKET")):
    call("SOCKET-" + name, libc.socket, fam, 2, 0)
call("SOCKET-AF_UNIX", libc.socket, 1, 1, 0)
pair = (ctypes.c_int * 2)()
call("SOCKETPAIR-AF_UNIX", libc.socketpair, 1, 1, 0, pair)
""")


def check_ctypes_socket(r: RunResult, h: Host) -> None:
    for name in ("AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET"):
        assert _lines(r, f"SOCKET-{name} ") == [f"SOCKET-{name} -1 EPERM"], r.stdout
    assert not _lines(r, "SOCKETPAIR-AF_UNIX -1")  # local IPC still works
    if r.tier == "A":
        assert not _lines(r, "SOCKET-AF_UNIX -1")  # a private mount and network namespace: nothing to reach
    else:  # no mount namespace: a host socket could be reached by path, so tier B has no AF_UNIX socket()
        assert _lines(r, "SOCKET-AF_UNIX ") == ["SOCKET-AF_UNIX -1 EPERM"], r.stdout


def ctypes_mount(h: Host) -> str:
    return _code(LIBC + """
call("MOUNT-tmpfs", libc.mount, b"none", b"/tmp", b"tmpfs", 0, None)
call("MOUNT-remount-ro-bind", libc.mount, b"none", b"/usr", None, 0x20 | 0x1000, None)
call("UMOUNT", libc.umount2, b"/proc", 2)
""")


def check_ctypes_mount(r: RunResult, h: Host) -> None:
    for name in ("MOUNT-tmpfs", "MOUNT-remount-ro-bind", "UMOUNT"):
        assert _lines(r, name + " ") == [f"{name} -1 EPERM"], r.stdout


def ctypes_unshare(h: Host) -> str:
    return _code(LIBC + """
for flag, name in ((0x10000000, "NEWUSER"), (0x00020000, "NEWNS"), (0x40000000, "NEWNET"), (0x20000000, "NEWPID")):
    call("UNSHARE-" + name, libc.unshare, flag)
call("SETNS", libc.setns, 0, 0)
""")


def check_ctypes_unshare(r: RunResult, h: Host) -> None:
    for name in ("UNSHARE-NEWUSER", "UNSHARE-NEWNS", "UNSHARE-NEWNET", "UNSHARE-NEWPID", "SETNS"):
        assert _lines(r, name + " ") == [f"{name} -1 EPERM"], r.stdout


def ctypes_ptrace(h: Host) -> str:
    return _code(LIBC + """
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
call("PTRACE-TRACEME", libc.ptrace, 0, 0, None, None)
call("PTRACE-ATTACH-HOST", libc.ptrace, 16, __HOST_PID__, None, None)
call("PTRACE-ATTACH-PARENT", libc.ptrace, 16, os.getppid(), None, None)
""", __HOST_PID__=os.getpid())


def check_ctypes_ptrace(r: RunResult, h: Host) -> None:
    for name in ("PTRACE-TRACEME", "PTRACE-ATTACH-HOST", "PTRACE-ATTACH-PARENT"):
        assert _lines(r, name + " ") == [f"{name} -1 EPERM"], r.stdout


def kernel_interfaces(h: Host) -> str:
    # x86_64 / aarch64 numbers differ; resolve by name through libseccomp-free means: use the generic table.
    return _code(LIBC + """
import platform
nums = {"x86_64": {"bpf": 321, "keyctl": 250, "io_uring_setup": 425, "perf_event_open": 298, "add_key": 248},
        "aarch64": {"bpf": 280, "keyctl": 219, "io_uring_setup": 425, "perf_event_open": 241, "add_key": 217}}
for name, nr in nums.get(platform.machine(), {}).items():
    call("SYSCALL-" + name, libc.syscall, nr, 0, 0, 0, 0)
""")


def check_kernel_interfaces(r: RunResult, h: Host) -> None:
    import platform

    if platform.machine() not in ("x86_64", "aarch64"):
        pytest.skip("syscall numbers known for x86_64 and aarch64 only")
    for name in ("bpf", "keyctl", "io_uring_setup", "perf_event_open", "add_key"):
        assert _lines(r, f"SYSCALL-{name} ") == [f"SYSCALL-{name} -1 EPERM"], r.stdout


def kill_parent(h: Host) -> str:
    return _code("""
        import signal
        for name, pid in (("HOST", __HOST_PID__), ("PARENT", os.getppid()), ("EVERYONE", -1)):
            try:
                os.kill(pid, signal.SIGKILL)
                print("KILL", name, "sent")
            except OSError as exc:
                print("KILL", name, type(exc).__name__)
        try:
            os.setuid(0)
            print("ROOT")
        except OSError as exc:
            print("SETUID", type(exc).__name__)
    """, __HOST_PID__=os.getpid())


def check_kill_parent(r: RunResult, h: Host) -> None:
    assert r.ok, r.stderr  # the runner itself survived kill(-1)
    assert _lines(r, "KILL HOST")[0] in ("KILL HOST ProcessLookupError", "KILL HOST PermissionError")
    assert _lines(r, "KILL PARENT") == ["KILL PARENT PermissionError"]
    assert _lines(r, "SETUID") == ["SETUID PermissionError"] and not _lines(r, "ROOT")
    os.kill(os.getpid(), 0)  # and we are, evidently, alive


@dataclass(frozen=True)
class Case:
    code: Callable[[Host], str]
    check: Callable[[RunResult, Host], None]
    options: dict[str, Any] = field(default_factory=dict)


BATTERY: dict[str, Case] = {
    "write-outside-work-dir": Case(write_outside, check_write_outside),
    "read-etc-shadow-and-host-files": Case(read_secrets, check_read_secrets),
    "tcp-to-loopback": Case(tcp_loopback, check_tcp_loopback),
    "udp-to-loopback": Case(udp_loopback, check_udp_loopback),
    "100-spawns": Case(spawn_100, check_spawn_100),
    "fork-bomb": Case(fork_bomb, check_fork_bomb, {"timeout_s": 2}),
    "allocate-8GiB": Case(alloc_8g, check_memory),
    "allocate-700MiB": Case(alloc_700m, check_memory, {"memory_mb": 512}),
    "infinite-loop": Case(infinite_loop, check_infinite_loop, {"timeout_s": 1}),
    "100MB-of-output": Case(output_100mb, check_output_100mb),
    "daemon-double-fork": Case(daemon_double_fork, check_daemon),
    "secret-in-environment": Case(env_secret, check_env_secret),
    "secret-in-proc-environ": Case(proc_environ, check_proc_environ),
    "ctypes-socket": Case(ctypes_socket, check_ctypes_socket),
    "ctypes-mount": Case(ctypes_mount, check_ctypes_mount),
    "ctypes-unshare": Case(ctypes_unshare, check_ctypes_unshare),
    "ctypes-ptrace": Case(ctypes_ptrace, check_ctypes_ptrace),
    "bpf-keyctl-io_uring": Case(kernel_interfaces, check_kernel_interfaces),
    "kill-the-parent": Case(kill_parent, check_kill_parent),
}


@pytest.mark.parametrize("case", list(BATTERY), ids=list(BATTERY))
def test_hostile_battery(case: str, sandbox: Sandbox, host: Host, sandbox_uid: Callable[[str], int],
                         assert_no_leftovers: Callable[..., None]) -> None:
    spec = BATTERY[case]
    result = sandbox.run(spec.code(host), **spec.options)
    uid = sandbox_uid(result.stdout)
    assert uid != 0 and uid != os.geteuid() or os.geteuid() != 0
    spec.check(result, host)
    for text in (result.stdout, result.stderr, result.traceback or "", str(result.files_out)):
        assert SECRET not in text, "the host's secret reached the sandboxed code"
    assert result.tier == sandbox.tier and "seccomp" in result.layers
    assert_no_leftovers(uid)
