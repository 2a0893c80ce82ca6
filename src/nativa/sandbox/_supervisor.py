"""The trusted half of the in-sandbox runner: the process that holds the host's channels and never runs code.

Started as `python -I -S -B -X utf8 supervisor.py RUNNER BOOT_JSON` inside the sandbox (standard library
only; it loads the executor module RUNNER by path first, and uses its JSON helpers). It
joins the cgroups, confines itself (tiers B and weak), makes itself non-dumpable, and forks the *executor*
(`_runner.py`), which keeps only the request pipe and its report pipe. From then on model-written code shares
no fd and no memory with this process: non-dumpable means a same-uid process cannot open its
`/proc/<pid>/fd/*`, `/proc/<pid>/mem` or `environ`, seccomp refuses ptrace, process_vm_* and pidfd_getfd,
and (Landlock ABI >= 6) the executor's own domain may not signal it. What it reports is what the code
cannot write:

- `{"e": "ready", "t": T}` on the clock pipe, before the executor exists: the host's deadline counts from
  this moment or from when it sent the request, whichever is later;
- `{"e": "done", "t1", "status" | "signal"}` on the result pipe: how the executor ended, by `waitpid` (a
  one-shot run's verdict), or, in a session, that the interpreter died.

The executor's own report (error type, traceback, files) travels on a separate pipe straight to the host and
can only add detail to a failure. Code that kills or stops this process only makes the run fail: the host
reads a missing verdict as a failure and a silent sandbox as a timeout.
"""

# ruff: noqa: S102
# (it must survive anything, and it loads the executor and landlock.py by path: no nativa inside)

import os
import sys
import time

_PR_SET_DUMPABLE = 4
_SYS_LANDLOCK_CREATE_RULESET = 444  # the same on x86_64 and aarch64
_SYS_LANDLOCK_RESTRICT_SELF = 446
_SCOPE_ABSTRACT_UNIX_SOCKET_AND_SIGNAL = 3


def _set_dumpable(flag):
    """prctl(PR_SET_DUMPABLE) through _ctypes: the ctypes package costs ~5 ms of start-up, _ctypes ~0.7 ms."""
    if not sys.platform.startswith("linux"):
        return  # tier "none": nothing to protect with
    import _ctypes

    prctl = _ctypes.dlsym(_ctypes.dlopen(None, 0), "prctl")
    if _ctypes.call_function(prctl, (_PR_SET_DUMPABLE, flag, 0, 0, 0)) != 0:
        raise OSError("prctl(PR_SET_DUMPABLE) failed")


def _scope_executor():
    """Landlock ABI >= 6: put the executor in a domain of its own that may not signal (or reach the abstract
    sockets of) anything outside it. kill() of the supervisor then fails with EPERM, and kill(-1) reaches
    only the code's own processes. Where the ABI is older, killing the supervisor fails the run instead."""
    if not sys.platform.startswith("linux"):
        return
    import _ctypes

    syscall = _ctypes.dlsym(_ctypes.dlopen(None, 0), "syscall")
    if _ctypes.call_function(syscall, (_SYS_LANDLOCK_CREATE_RULESET, None, 0, 1)) < 6:
        return
    attr = bytes(16) + _SCOPE_ABSTRACT_UNIX_SOCKET_AND_SIGNAL.to_bytes(8, sys.byteorder)  # fs 0, net 0, scoped
    fd = _ctypes.call_function(syscall, (_SYS_LANDLOCK_CREATE_RULESET, attr, len(attr), 0))
    if fd < 0:
        raise OSError("landlock_create_ruleset failed")
    try:
        if _ctypes.call_function(syscall, (_SYS_LANDLOCK_RESTRICT_SELF, fd, 0)) != 0:
            raise OSError("landlock_restrict_self failed")
    finally:
        os.close(fd)


def _load(path, name):
    """A module of the runner by path: a .pyc written by the host for this interpreter, else the source."""
    with open(path, "rb") as fh:
        data = fh.read()
    if path.endswith(".pyc"):
        import marshal

        code = marshal.loads(data[16:])
    else:
        code = compile(data, path, "exec")
    ns = {"__name__": name, "__file__": path, "__builtins__": __builtins__}
    exec(code, ns)
    return ns


def _only_fds(keep):
    """Close every fd but `keep`: the executor must hold none of the supervisor's channels, however numbered."""
    lo = 0
    for fd in sorted(keep) + [1 << 20]:
        if fd > lo:
            os.closerange(lo, fd)
        lo = fd + 1


def _finish(boot, pid, send):
    """Wait for the executor, take down what a script left running, and report how it ended (the verdict)."""
    _, status = os.waitpid(pid, 0)
    t1 = time.monotonic()
    if boot.get("reap") and boot["mode"] != "session" and os.getuid() != 0:
        # A script's run ends with its process: take down whatever it left running (daemons included). Safe
        # only where kill(-1) can reach nothing but this sandbox: a pid namespace, a uid of its own, or a
        # Landlock signal scope; the host says which in "reap". kill(-1) spares the caller.
        try:
            os.kill(-1, 9)
        except OSError:
            pass
    verdict = {"e": "done", "t1": t1}
    if os.WIFSIGNALED(status):
        verdict["signal"] = os.WTERMSIG(status)
    else:
        verdict["status"] = os.WEXITSTATUS(status)
    send(boot["res"], verdict)
    os._exit(verdict.get("status", 1))


def main():
    """Join the cgroups, confine, say ready, then fork the executor that serves the requests and see it
    through to its end."""
    runner = _load(sys.argv[1], "nativa_sandbox_runner")
    send = runner["_send"]
    boot = runner["_loads"](sys.argv[2])
    for fd in boot.get("cg", ()):
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)
    if boot.get("confine") is not None:
        _load(boot["landlock_path"], "nativa_sandbox_landlock")["confine"](boot["confine"])
    _set_dumpable(0)
    os.chdir(boot["work"])
    ctl, det = boot["ctl"], boot["det"]
    send(boot["clk"], {"e": "ready", "t": time.monotonic()})  # no code of the request can run before this
    pid = os.fork()
    if pid == 0:
        try:
            _only_fds({0, 1, 2, ctl, det})
            _scope_executor()
            _set_dumpable(1)  # the code's own /proc/self stays as usual; the supervisor's fds are out of reach
            runner["serve"](boot["mode"], ctl, det, boot.get("path") or ())
        finally:
            os._exit(70)
    os.close(ctl)
    os.close(det)
    for fd in (boot["res"], boot["clk"]):
        os.set_inheritable(fd, False)
    if boot.get("announce"):
        send(boot["res"], {"e": "ready"})  # a pool hands this sandbox out only once it is this far
    _finish(boot, pid, send)


if __name__ == "__main__":
    main()
