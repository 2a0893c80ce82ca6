"""Tier A: the bubblewrap command line, built from what was measured on these machines.

Two traps shape it. As root, bwrap must *not* get `--unshare-user`: that user namespace maps to host uid 0
and was escaped (remount a read-only bind, write /proc/sys); instead bwrap runs without one and `setpriv`
drops to a sandbox uid with no capabilities and no-new-privs. And every parent directory of a read-only
bind is created explicitly with `--perms 0755 --dir`: bwrap would make it 0700, the unprivileged uid could
not traverse it, and the dynamic loader would silently pick another libpython (the probe checks
`sys.version` inside once for exactly this reason).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

INSIDE_WORK = "/work"
INSIDE_RUNNER = "/.nativa/runner.py"
INSIDE_SUPERVISOR = "/.nativa/supervisor.py"

_NETWORK_ETC = ("/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/ssl", "/etc/ca-certificates",
                "/etc/gai.conf", "/etc/host.conf")


@dataclass(frozen=True)
class Interpreter:
    """A Python the sandbox can run: its real executable and the tree that must be visible for it to start."""

    executable: str
    prefix: str
    version: str

    def visible_to_others(self) -> bool:
        """Whether an unprivileged uid can reach the executable on the host (tier B has no bind mounts)."""
        path = Path(self.executable)
        for parent in path.parents:
            try:
                if not os.stat(parent).st_mode & 0o001:
                    return False
            except OSError:
                return False
        return os.access(path, os.R_OK) and bool(os.stat(path).st_mode & 0o005 == 0o005)


def host_interpreter() -> Interpreter:
    """The interpreter running nativa, resolved through venv symlinks to its real prefix (sys.base_prefix).

    Only the base prefix is bound, not the venv: sandboxed code gets the standard library, not nativa's
    own dependencies (see `Sandbox(site_packages=True)` to opt in).
    """
    exe = os.path.realpath(sys.executable)
    prefix = os.path.realpath(sys.base_prefix)
    if not exe.startswith(prefix.rstrip("/") + "/"):
        prefix = str(Path(exe).parent.parent)
    return Interpreter(executable=exe, prefix=prefix, version=sys.version)


def interpreter_argv(interp: Interpreter, script: str, *args: str) -> list[str]:
    """`-I -S`: no environment, no site, no user site: start-up is ~7 ms and nothing outside the stdlib leaks in."""
    return [interp.executable, "-I", "-S", "-B", "-X", "utf8", script, *args]


def setpriv_argv(uid: int) -> list[str]:
    """The setpriv prefix that drops a root host's sandbox to `uid`: no groups, no capabilities, and no
    way to regain them."""
    return ["/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all", "--no-new-privs", "--"]


class _Tree:
    """Accumulates bwrap mount arguments, creating each missing parent directory 0755 before it is used."""

    def __init__(self) -> None:
        self.args: list[str] = []
        self._dirs: set[str] = {"/"}
        self._bound: list[str] = []

    def covered(self, path: str) -> bool:
        return any(path == b or path.startswith(b.rstrip("/") + "/") for b in self._bound)

    def parents(self, dest: str) -> None:
        for parent in reversed(Path(dest).parents):
            p = str(parent)
            if p not in self._dirs:
                self.args += ["--perms", "0755", "--dir", p]
                self._dirs.add(p)

    def ro_bind(self, src: str, dest: str | None = None, *, try_: bool = False) -> None:
        dest = dest or src
        if self.covered(dest):
            return
        self.parents(dest)
        self.args += ["--ro-bind-try" if try_ else "--ro-bind", src, dest]
        self._bound.append(dest)
        self._dirs.add(dest)

    def add(self, *args: str) -> None:
        self.args += args


def build_argv(
    *,
    interp: Interpreter,
    runner_host_path: str,
    supervisor_host_path: str,
    boot: str,
    uid: int,
    is_root: bool,
    seccomp_fd: int,
    allow_network: bool,
    tmpfs_bytes: int,
    extra_ro: Sequence[str] = (),
    env: dict[str, str],
) -> list[str]:
    """The full `bwrap ... -- [setpriv ...] python -I -S supervisor.py RUNNER BOOT` command for one sandbox."""
    t = _Tree()
    t.ro_bind("/usr")
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = f"/{name}"
        if os.path.islink(host):
            t.add("--symlink", os.readlink(host), host)
            t._dirs.add(host)
        elif os.path.isdir(host):
            t.ro_bind(host)
    t.ro_bind(interp.prefix)
    for path in extra_ro:
        t.ro_bind(path)
    for etc in ("/etc/ld.so.cache", "/etc/localtime") + (_NETWORK_ETC if allow_network else ()):
        t.ro_bind(etc, try_=True)
    t.ro_bind(runner_host_path, runner_inside(runner_host_path))
    supervisor_inside = INSIDE_SUPERVISOR + ("c" if supervisor_host_path.endswith(".pyc") else "")
    t.ro_bind(supervisor_host_path, supervisor_inside)
    t.add("--proc", "/proc", "--dev", "/dev")
    t.add("--size", str(tmpfs_bytes), "--perms", "1777", "--tmpfs", "/tmp")
    t.add("--size", str(tmpfs_bytes), "--perms", "1777", "--tmpfs", "/dev/shm")
    # bwrap cannot chown, and a fresh tmpfs belongs to root: 0777 lets the sandbox uid (the only other uid
    # in here) create files, which are then its own.
    t.add("--size", str(tmpfs_bytes), "--perms", "0777", "--tmpfs", INSIDE_WORK)
    t.add("--chdir", INSIDE_WORK)
    t.add("--remount-ro", "/")

    argv = ["bwrap", "--die-with-parent", "--new-session", "--clearenv"]
    for key, value in env.items():
        argv += ["--setenv", key, value]
    argv += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox"]
    if not allow_network:
        argv.append("--unshare-net")
    if not is_root:
        argv += ["--unshare-user", "--disable-userns"]
    argv += ["--seccomp", str(seccomp_fd)]
    argv += t.args
    argv.append("--")
    if is_root:
        argv += setpriv_argv(uid)
    argv += interpreter_argv(interp, supervisor_inside, runner_inside(runner_host_path), boot)
    return argv


def runner_inside(runner_host_path: str) -> str:
    """Where the executor module appears inside a tier A sandbox (its .pyc keeps the suffix)."""
    return INSIDE_RUNNER + ("c" if runner_host_path.endswith(".pyc") else "")
