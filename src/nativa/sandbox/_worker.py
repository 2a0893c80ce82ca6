"""One sandboxed runner process, from spawn to complete cleanup, and the host's side of its I/O.

A worker owns everything one sandbox holds on the host: a uid lease, its cgroups, four pipes, a pidfd,
and (tiers B and weak, which have no private tmpfs) a work dir. `execute` sends one request and reads
stdout, stderr and the result channel incrementally until the runner reports `done`, the process exits,
the wall-clock deadline passes or an output cap is crossed, killing the whole sandbox in the last two
cases. `close` leaves nothing behind: no process of its uid, no cgroup, no directory, no fd.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import selectors
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nativa.errors import SandboxError
from nativa.sandbox import _runtime, bwrap, cgroups, seccomp
from nativa.sandbox._host import LANDLOCK_PATH, RUNNER_PATH, HostContext, runner_pyc, spawner
from nativa.sandbox.bwrap import Interpreter
from nativa.sandbox.limits import Limits
from nativa.sandbox.probe import ProbeReport, Tier

_READ_CHUNK = 65536
STARTUP_TIMEOUT_S = 30.0
_OOM_CHECK_S = 0.05


@dataclass
class SpawnSpec:
    """What is fixed when a sandbox starts (limits can tighten per request, these cannot change)."""

    tier: Tier
    mode: str  # "oneshot" | "session"
    allow_network: bool
    limits: Limits
    site_packages: tuple[str, ...] = ()
    pooled: bool = False


@dataclass
class RawOutcome:
    """What the host observed during one request, before it becomes a `RunResult`."""

    done: dict[str, Any] | None = None
    stdout: bytes = b""
    stderr: bytes = b""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    killed_by: str | None = None
    exit_status: int | None = None
    oom_killed: bool = False
    duration_s: float = 0.0
    notes: list[str] = field(default_factory=list)


def _minimal_env(home: str, tmp: str) -> dict[str, str]:
    """The whole environment of sandboxed code: nothing of the host's (no keys, tokens, proxies)."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "TMPDIR": tmp, "LANG": "C.UTF-8",
            "USER": "sandbox", "LOGNAME": "sandbox", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUTF8": "1"}


class Worker:
    """A started sandbox; not thread-safe (a session or a pool serialises its use)."""

    def __init__(self, report: ProbeReport, spec: SpawnSpec, ctx: HostContext) -> None:
        self.report = report
        self.spec = spec
        self.ctx = ctx
        self.name = _runtime.unique_name()
        self.lease: _runtime.UidLease | None = None
        self.cgroup: cgroups.SandboxCgroup | None = None
        self.work_dir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._fds: dict[str, int] = {}
        self.dead = False
        self.closed = False
        self.ready = False
        self._res_buf = bytearray()
        self._clk_buf = bytearray()
        self._started: float | None = None
        try:
            self._spawn()
        except BaseException:
            self.close()
            raise

    # -- start ------------------------------------------------------------------------------------
    def _spawn(self) -> None:
        spec, report = self.spec, self.report
        is_root = report.is_root
        uid = None
        if is_root:
            self.lease = _runtime.lease_uid(self.ctx.root)
            uid = self.lease.uid
        if self.ctx.cgroups.memory or self.ctx.cgroups.pids:
            self.cgroup = cgroups.SandboxCgroup(self.ctx.cgroups, self.name, memory_bytes=spec.limits.memory_bytes,
                                                max_pids=spec.limits.max_processes + 8)
        ctl_r, ctl_w = os.pipe()
        res_r, res_w = os.pipe()
        clk_r, clk_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        self._fds = {"ctl": ctl_w, "res": res_r, "clk": clk_r, "out": out_r, "err": err_r}
        child_fds = [ctl_r, res_w, clk_w, out_w, err_w]
        # Joining a v1 cgroup waits for an RCU grace period (~10 ms on a busy host). The host does it, while
        # the sandbox starts up, when it can find the sandbox's processes; else the runner joins itself.
        host_attach = self.cgroup is not None and self.ctx.proc_children
        cg_fds = self.cgroup.join_fds() if self.cgroup and not host_attach else []
        child_fds += cg_fds
        allow_net = spec.allow_network
        bpf = seccomp.bpf_program(allow_network=allow_net) if report.seccomp else b""
        sc_fd = seccomp.program_fd(bpf) if bpf else None
        if sc_fd is not None:
            child_fds.append(sc_fd)
        # kill(-1) from the runner reaches only this sandbox in a pid namespace (A), under a uid of its own
        # (root), or inside a Landlock signal scope (ABI >= 6); elsewhere it would hit the user's processes.
        reap = (spec.tier == "A" or (uid is not None and report.interpreter_b is not None)
                or (spec.tier == "B" and report.landlock_abi >= 6))
        boot: dict[str, Any] = {"mode": spec.mode, "ctl": ctl_r, "res": res_w, "clk": clk_w, "cg": cg_fds,
                                "path": list(spec.site_packages), "reap": reap, "announce": spec.pooled}
        try:
            if spec.tier == "A":
                interp = Interpreter(**report.interpreter)
                boot["work"] = bwrap.INSIDE_WORK
                same_python = interp.executable == os.path.realpath(sys.executable)
                argv = bwrap.build_argv(
                    interp=interp, runner_host_path=runner_pyc(self.ctx.root) if same_python else RUNNER_PATH,
                    boot=json.dumps(boot), uid=uid or 0,
                    is_root=is_root, seccomp_fd=sc_fd if sc_fd is not None else -1, allow_network=allow_net,
                    tmpfs_bytes=spec.limits.max_file_mb * 1024 * 1024, extra_ro=spec.site_packages,
                    env=_minimal_env(bwrap.INSIDE_WORK, "/tmp"))
                env = {"PATH": "/usr/bin:/bin"}
                cwd = "/"
            else:
                argv, env, cwd = self._confined_argv(boot, uid, sc_fd)
            for fd in (out_r, err_r, res_r, clk_r, ctl_w):
                os.set_blocking(fd, False)
            pass_fds = [ctl_r, res_w, clk_w, *cg_fds] + ([sc_fd] if sc_fd is not None else [])

            def popen() -> subprocess.Popen[bytes]:
                return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out_w, stderr=err_w,
                                        pass_fds=pass_fds, env=env, cwd=cwd, start_new_session=True)

            # A one-shot run blocks its caller's thread until the sandbox is gone; anything that outlives
            # the call must be forked by a thread that outlives it too.
            self.proc = popen() if spec.mode == "oneshot" and not spec.pooled else spawner.call(popen)
            self._fds["pid"] = os.pidfd_open(self.proc.pid)
        finally:
            for fd in child_fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
        if host_attach:
            self._attach_tree()

    def _attach_tree(self) -> None:
        """Move every process of the sandbox into its cgroups before it gets a request.

        Parent first, then its children as /proc lists them: a child forked after its parent moved is born
        inside, one forked before is listed. The runner forks nothing until it reads a request, which is
        sent only after this returns, so no process of the code can start outside.
        """
        assert self.cgroup is not None and self.proc is not None
        todo, seen = [self.proc.pid], set()
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            if not self.cgroup.attach(pid):
                continue
            try:
                with open(f"/proc/{pid}/task/{pid}/children") as fh:
                    todo += [int(x) for x in fh.read().split()]
            except (OSError, ValueError):
                continue

    def _confined_argv(self, boot: dict[str, Any], uid: int | None, sc_fd: int | None
                       ) -> tuple[list[str], dict[str, str], str]:
        """Tiers B and weak: a plain process that confines itself (landlock.py) before reading a request."""
        spec, report = self.spec, self.report
        ib = report.interpreter_b
        interp = Interpreter(**ib) if ib else Interpreter(**report.interpreter)
        base = self.ctx.root / "work" / self.name
        work, tmp = base / "work", base / "tmp"
        for d in (base, work, tmp):
            d.mkdir(mode=0o700 if d is not base else 0o755)
        os.chmod(base, 0o755)
        if uid is not None:
            for d in (work, tmp):
                os.chown(d, uid, uid)
        self.work_dir = base
        ro = ["/usr", "/bin", "/sbin", "/lib", "/lib64", interp.prefix, "/etc/ld.so.cache", "/etc/localtime"]
        ro += list(spec.site_packages)
        if spec.allow_network:
            ro += list(bwrap._NETWORK_ETC)
        confine: dict[str, Any] = {
            "uid": uid if (uid is not None and ib is not None) else None, "gid": uid, "host_pid": os.getpid(),
            "landlock": spec.tier == "B", "ro": ro, "rw": [str(work), str(tmp)],
            "rw_files": ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"],
            "deny_tcp": not spec.allow_network, "seccomp_fd": sc_fd,
        }
        # Tier "none" (not Linux) has nothing to confine with: a plain process under rlimits, opted into.
        boot.update(work=str(work), confine=confine if spec.tier != "none" else None, landlock_path=LANDLOCK_PATH)
        argv = bwrap.interpreter_argv(interp, RUNNER_PATH, json.dumps(boot))
        return argv, _minimal_env(str(work), str(tmp)), str(work)

    # -- run --------------------------------------------------------------------------------------
    def wait_ready(self, timeout_s: float = STARTUP_TIMEOUT_S) -> bool:
        """Block until the runner is confined, imported and waiting for a request (what a pool waits for)."""
        deadline = time.monotonic() + timeout_s
        poller = select.poll()
        poller.register(self._fds["res"], select.POLLIN)
        poller.register(self._fds["pid"], select.POLLIN)
        while b"\n" not in self._res_buf:
            left = deadline - time.monotonic()
            if left <= 0 or not self.alive():
                return False
            poller.poll(int(left * 1000) + 1)
            chunk = _read(self._fds["res"])
            if chunk == b"":
                return False
            if chunk:
                self._res_buf += chunk
        line, _, rest = bytes(self._res_buf).partition(b"\n")
        self._res_buf[:] = rest
        self.ready = _parse(line).get("e") == "ready"
        return self.ready

    def alive(self) -> bool:
        return not self.dead and self.proc is not None and self.proc.poll() is None

    def _started_at(self) -> float | None:
        """When the current request's code started, by the runner's own CLOCK_MONOTONIC reading.

        The runner reports it on a pipe the host does not wait on: being woken for it would cost a
        context switch per run, and the host needs it only when a deadline computed from the moment the
        request was sent has passed (the code cannot have started before that).
        """
        while chunk := _read(self._fds["clk"]):
            self._clk_buf += chunk
        while b"\n" in self._clk_buf:
            line, _, rest = bytes(self._clk_buf).partition(b"\n")
            self._clk_buf[:] = rest
            t = _parse(line).get("t")
            if isinstance(t, int | float):
                self._started = float(t)
        return self._started

    def execute(self, request: dict[str, Any], *, timeout_s: float, max_output_bytes: int,
                max_result_bytes: int) -> RawOutcome:
        """Send one request and watch it to its end; raises SandboxError if the sandbox never started."""
        if self.dead or self.proc is None:
            raise SandboxError("this sandbox has already ended")
        payload = memoryview((json.dumps(request, separators=(",", ":")) + "\n").encode())
        fds = self._fds
        raw = RawOutcome()
        bufs = {"out": bytearray(), "err": bytearray()}
        trunc = {"out": False, "err": False}
        res_buf = self._res_buf
        oom_base = self.cgroup.oom_kills() if self.cgroup else 0
        self._started_at()
        self._started = None  # what was there belonged to the previous snippet
        t0 = time.monotonic()
        try:
            payload = payload[os.write(fds["ctl"], payload):]
        except BlockingIOError:
            pass
        except BrokenPipeError:
            payload = payload[:0]
        sel = selectors.DefaultSelector()
        for tag in ("out", "err", "res", "pid"):
            sel.register(fds[tag], selectors.EVENT_READ, tag)
        if payload:
            sel.register(fds["ctl"], selectors.EVENT_WRITE, "ctl")
        startup_deadline = t0 + STARTUP_TIMEOUT_S
        deadline = t0 + timeout_s  # provisional: refined from the runner's start time when it is reached
        exited = False
        next_oom_check = t0 + _OOM_CHECK_S
        try:
            while raw.done is None and not exited and raw.killed_by is None:
                now = time.monotonic()
                if now >= deadline:
                    started = self._started_at()
                    if started is not None:
                        deadline = started + timeout_s
                        if now >= deadline:
                            raw.killed_by = "timeout"
                            break
                    elif now >= startup_deadline:
                        self.kill()
                        raise SandboxError(f"the sandbox did not start within {STARTUP_TIMEOUT_S:.0f} s")
                    else:
                        deadline = now + _OOM_CHECK_S  # still starting up: look again shortly
                    continue
                if self.cgroup is not None and now >= next_oom_check:
                    # The cgroup's OOM killer picks a victim and lets the rest run on in a broken state;
                    # the sandbox as a whole hit its ceiling, so end it and say so.
                    next_oom_check = now + _OOM_CHECK_S
                    if self.cgroup.oom_kills() > oom_base:
                        raw.killed_by = "memory"
                        break
                wait = deadline - now
                if self.cgroup is not None:
                    wait = min(wait, max(next_oom_check - now, 0.0))
                for key, _ in sel.select(wait):
                    tag = key.data
                    if tag == "ctl":
                        try:
                            n = os.write(fds["ctl"], payload)
                        except BlockingIOError:
                            continue
                        except BrokenPipeError:
                            sel.unregister(fds["ctl"])
                            continue
                        payload = payload[n:]
                        if not payload:
                            sel.unregister(fds["ctl"])
                    elif tag in ("out", "err"):
                        chunk = _read(fds[tag])
                        if chunk is None:
                            continue
                        if not chunk:
                            sel.unregister(fds[tag])
                            continue
                        if _append_capped(bufs[tag], chunk, max_output_bytes):
                            trunc[tag] = True
                            raw.killed_by = "output"
                    elif tag == "res":
                        chunk = _read(fds["res"])
                        if chunk is None:
                            continue
                        if not chunk:
                            sel.unregister(fds["res"])
                            continue
                        res_buf += chunk
                        if len(res_buf) > max_result_bytes:
                            raw.killed_by = "output"
                            raw.notes.append("result channel overflow")
                            break
                        while b"\n" in res_buf:
                            line, _, rest = bytes(res_buf).partition(b"\n")
                            res_buf[:] = rest
                            msg = _parse(line)
                            if msg.get("e") == "done":
                                raw.done = msg
                    elif tag == "pid":
                        exited = True
        finally:
            sel.close()
        started = self._started_at()
        done = raw.done
        if done is not None and isinstance(done.get("t0"), int | float) and isinstance(done.get("t1"), int | float):
            raw.duration_s = max(0.0, float(done["t1"]) - float(done["t0"]))
        else:
            raw.duration_s = time.monotonic() - (started or t0)
        if raw.killed_by is not None:
            self.kill()
        elif exited:
            self.dead = True
            if started is None and raw.done is None:
                status = self.proc.wait()
                tail = bytes(bufs["err"][-2000:]).decode("utf-8", "replace").strip()
                self._drain(bufs, trunc, max_output_bytes, until_eof=True)
                tail = bytes(bufs["err"][-2000:]).decode("utf-8", "replace").strip() or tail
                raise SandboxError(f"the sandbox failed to start (exit status {status}): {tail or 'no output'}")
            self._reap_leftovers()
        if raw.done is None or raw.killed_by is not None:
            self._drain(bufs, trunc, max_output_bytes, until_eof=True)
            if self.proc.poll() is None and raw.killed_by is None:
                self.kill()
            raw.exit_status = self.proc.wait() if self.dead else None
        else:
            self._drain(bufs, trunc, max_output_bytes, until_eof=False)
        if self.cgroup is not None and self.cgroup.oom_kills() > oom_base:
            raw.oom_killed = True
        raw.stdout, raw.stderr = bytes(bufs["out"]), bytes(bufs["err"])
        raw.stdout_truncated, raw.stderr_truncated = trunc["out"], trunc["err"]
        return raw

    def _drain(self, bufs: dict[str, bytearray], trunc: dict[str, bool], cap: int, *, until_eof: bool) -> None:
        """Collect what the pipes still hold: all of it up to EOF after an exit or kill, else what is buffered."""
        deadline = time.monotonic() + (2.0 if until_eof else 0.05)
        open_tags = ["out", "err"]
        while open_tags:
            for tag in list(open_tags):
                fd = self._fds[tag]
                chunk = _read(fd)
                if chunk is None:
                    if not until_eof:
                        open_tags.remove(tag)
                    continue
                if not chunk:
                    open_tags.remove(tag)
                    continue
                if _append_capped(bufs[tag], chunk, cap):
                    trunc[tag] = True
            if open_tags:
                if time.monotonic() > deadline:
                    break
                if until_eof:
                    time.sleep(0.001)

    # -- stop -------------------------------------------------------------------------------------
    def kill(self) -> None:
        """SIGKILL the whole sandbox: bwrap (whose pid namespace dies with it), its cgroup, its uid."""
        self.dead = True
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if self.spec.tier == "A":
                    os.kill(self.proc.pid, signal.SIGKILL)
                else:
                    os.killpg(self.proc.pid, signal.SIGKILL)
        self._reap_leftovers()

    def _reap_leftovers(self) -> None:
        if self.cgroup is not None:
            self.cgroup.kill_all()
        if self.lease is not None and self.spec.tier != "A":
            _runtime.kill_uid(self.lease.uid)
        if self.proc is not None and self.spec.tier != "A":
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def _wait_exit(self, timeout_s: float) -> bool:
        """Wait on the pidfd (no sleep-polling: this is on the path of every one-shot run)."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            return True
        pidfd = self._fds.get("pid")
        if pidfd is not None:
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            poller.poll(int(timeout_s * 1000))
        else:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=timeout_s)
        return self.proc.poll() is not None

    def close(self) -> None:
        """End the sandbox and remove every trace of it (idempotent)."""
        if self.closed:
            return
        self.closed = True
        ctl = self._fds.pop("ctl", None)
        if ctl is not None:
            os.close(ctl)  # a session runner reads EOF and exits
        if self.proc is not None and not self._wait_exit(0.5 if not self.dead else 2.0):
            self.kill()
            self.proc.wait()
        self.dead = True
        self._reap_leftovers()
        if self.cgroup is not None:
            self.cgroup.remove()
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()
        if self.work_dir is not None:
            shutil.rmtree(self.work_dir, ignore_errors=True)
        if self.lease is not None:
            self.lease.release()


def _read(fd: int) -> bytes | None:
    """One non-blocking read: None when nothing is there yet, b"" at end of file."""
    try:
        return os.read(fd, _READ_CHUNK)
    except BlockingIOError:
        return None


def _append_capped(buf: bytearray, chunk: bytes, cap: int) -> bool:
    """Keep at most `cap` bytes in `buf`; True when `chunk` did not fit (the stream is over its cap)."""
    room = cap - len(buf)
    if len(chunk) <= room:
        buf += chunk
        return False
    if room > 0:
        buf += chunk[:room]
    return True


def _parse(line: bytes) -> dict[str, Any]:
    try:
        msg = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return {}
    return msg if isinstance(msg, dict) else {}
