"""The trusted half of the in-sandbox runner: the process that holds the host's channels and never runs code.

Started as `python -I -S -B -X utf8 supervisor.py BOOT_JSON` inside the sandbox (standard library only). It
joins the cgroups, confines itself (tiers B and weak), makes itself non-dumpable, and forks the *executor*
(`_runner.py`), which closes every fd but its own two before it reads a request. From then on model-written
code shares no fd and no memory with this process: non-dumpable means a same-uid process cannot open its
`/proc/<pid>/fd/*`, `/proc/<pid>/mem` or `environ`, and seccomp refuses ptrace, process_vm_* and
pidfd_getfd. What this process reports is therefore what the code cannot write:

- `{"e": "started", "t": T}` on the clock pipe, when the request is handed over (the host's deadline);
- `{"e": "done", "t0", "t1", "status" | "signal"}` on the result pipe: how the executor ended, by `waitpid`
  (a one-shot run's verdict), or, in a session, that the interpreter died.

The executor's own report (error type, traceback, files) travels on a separate pipe straight to the host and
can only add detail to a failure. Code that signals this process (SIGKILL, SIGSTOP) only makes the run fail:
the host reads a missing verdict as a failure and a silent sandbox as a timeout.
"""

# ruff: noqa: S102
# (it must survive anything, and it loads the executor and landlock.py by path: no nativa inside)

import _json
import os
import sys
import time

_PR_SET_DUMPABLE = 4
_SYS_LANDLOCK_CREATE_RULESET = 444  # the same on x86_64 and aarch64
_SYS_LANDLOCK_RESTRICT_SELF = 446
_SCOPE_ABSTRACT_UNIX_SOCKET_AND_SIGNAL = 3


def _loads(text):
    class Ctx:
        strict = True
        object_hook = object_pairs_hook = None
        parse_float, parse_int, parse_constant = float, int, float
        memo: dict = {}  # noqa: RUF012

    return _json.make_scanner(Ctx())(text, 0)[0]


_encode = _json.make_encoder(None, None, _json.encode_basestring_ascii, None, ":", ",", False, False, True)


def _send(fd, obj):
    _write_all(fd, ("".join(_encode(obj, 0)) + "\n").encode())


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


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
    """Close every fd but `keep`: the executor must hold nothing of the host's channels, however numbered."""
    lo = 0
    for fd in sorted(keep) + [1 << 20]:
        if fd > lo:
            os.closerange(lo, fd)
        lo = fd + 1


def _finish(boot, pid, t0, status=None):
    """Report how the executor ended (the verdict), after taking down what a script leaves running."""
    if status is None:
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
    verdict = {"e": "done", "t0": t0, "t1": t1}
    if os.WIFSIGNALED(status):
        verdict["signal"] = os.WTERMSIG(status)
    else:
        verdict["status"] = os.WEXITSTATUS(status)
    _send(boot["res"], verdict)
    os._exit(verdict.get("status", 1))


class _Watch:
    """Tells when the executor has died while waiting for the host: its pidfd, or a poll where none exists."""

    def __init__(self, pid):
        import select

        self.pid, self.status, self.select = pid, None, select.select
        self.fd = os.pidfd_open(pid) if hasattr(os, "pidfd_open") else None

    def wait(self, ctl):
        """Block until the host sent something (True) or the executor died (False)."""
        fds = [ctl] if self.fd is None else [ctl, self.fd]
        while True:
            ready, _, _ = self.select(fds, [], [], None if self.fd is not None else 0.1)
            if self.fd in ready or (self.fd is None and self._exited()):
                return False
            if ctl in ready:
                return True

    def _exited(self):
        done, status = os.waitpid(self.pid, os.WNOHANG)
        if done:
            self.status = status
        return bool(done)


def _relay(boot, req_w, watch=None):
    """Forward one request line from the host to the executor: ("started", t0), ("closed", None) when the host
    closed the channel, or ("died", t0) when the executor is gone.

    The clock record goes out before the line's last byte, so the code cannot run before it is on record.
    """
    ctl = boot["ctl"]
    t0 = None
    while True:
        if watch is not None and t0 is None and not watch.wait(ctl):
            return "died", None
        chunk = os.read(ctl, 1 << 16)
        if not chunk:
            return "closed", None
        if b"\n" in chunk:
            t0 = time.monotonic()
            _send(boot["clk"], {"e": "started", "t": t0})
        try:
            _write_all(req_w, chunk)
        except OSError:
            return "died", t0  # the executor is gone: its status is the answer
        if t0 is not None:
            return "started", t0
        watch = None  # the rest of a request that has begun comes without waiting for the executor


def main():
    boot = _loads(sys.argv[1])
    for fd in boot.get("cg", ()):
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)
    runner = _load(boot["runner"], "nativa_sandbox_runner")
    if boot.get("confine") is not None:
        _load(boot["landlock_path"], "nativa_sandbox_landlock")["confine"](boot["confine"])
    _set_dumpable(0)
    os.chdir(boot["work"])
    req_r, req_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            det = boot["det"]
            _only_fds({0, 1, 2, req_r, det})
            _scope_executor()
            _set_dumpable(1)  # the code's own /proc/self stays as usual; the supervisor's fds are out of reach
            runner["serve"](boot["mode"], req_r, det, boot.get("path") or ())
        finally:
            os._exit(70)
    os.close(req_r)
    os.close(boot["det"])
    for fd in (boot["ctl"], boot["res"], boot["clk"], req_w):
        os.set_inheritable(fd, False)
    if boot.get("announce"):
        _send(boot["res"], {"e": "ready"})  # a pool hands this sandbox out only once it is this far
    if boot["mode"] != "session":
        what, t0 = _relay(boot, req_w)
        if what == "closed":
            os._exit(0)  # a pre-started sandbox closed unused
        os.close(req_w)
        _finish(boot, pid, t0)
    watch = _Watch(pid)
    t0 = None
    while True:
        what, started = _relay(boot, req_w, watch)
        if what == "closed":
            os._exit(0)  # the host closed the session
        t0 = started or t0
        if what == "died":
            _finish(boot, pid, t0, watch.status)


if __name__ == "__main__":
    main()
