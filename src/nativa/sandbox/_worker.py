"""One sandbox, from spawn to complete cleanup: the host's handle on its processes, pipes and resources.

A worker owns everything one sandbox holds on the host: a uid lease, its cgroups, six pipes, a pidfd, and
(tiers B and weak, which have no private mount namespace) a work dir, capped by `workdir`. `execute` hands
one request to `_exchange`; `pause`/`resume` stop a session's processes between snippets; `close` leaves
nothing behind: no process of its uid, no cgroup, no directory, no fd.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nativa.sandbox import _runtime, bwrap, cgroups, seccomp, workdir
from nativa.sandbox._exchange import STARTUP_TIMEOUT_S, append_capped, exchange, read
from nativa.sandbox._host import LANDLOCK_PATH, RUNNER_PATH, SUPERVISOR_PATH, HostContext, runner_pyc, spawner
from nativa.sandbox._outcome import RawOutcome, finite, parse
from nativa.sandbox.bwrap import Interpreter
from nativa.sandbox.limits import Limits
from nativa.sandbox.probe import ProbeReport, Tier

__all__ = ["RawOutcome", "SpawnSpec", "Worker"]


@dataclass
class SpawnSpec:
    """What is fixed when a sandbox starts (limits can tighten per request, these cannot change)."""

    tier: Tier
    mode: str  # "oneshot" | "session"
    allow_network: bool
    limits: Limits
    site_packages: tuple[str, ...] = ()
    pooled: bool = False


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
        self.disk: workdir.DiskGuard | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.fds: dict[str, int] = {}
        self.dead = False
        self.closed = False
        self.ready = False
        self.paused: list[int] = []
        self._supervisor: int | None = None
        self.seq = 0
        self.res_buf = bytearray()
        self._clk_buf = bytearray()
        self._ready_at: float | None = None
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
        if self.ctx.cgroups.parents:
            self.cgroup = cgroups.SandboxCgroup(self.ctx.cgroups, self.name, memory_bytes=spec.limits.memory_bytes,
                                                max_pids=spec.limits.max_processes + 8)
        ctl_r, ctl_w = os.pipe()
        res_r, res_w = os.pipe()
        clk_r, clk_w = os.pipe()
        det_r, det_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        self.fds = {"ctl": ctl_w, "res": res_r, "clk": clk_r, "det": det_r, "out": out_r, "err": err_r}
        child_fds = [ctl_r, res_w, clk_w, det_w, out_w, err_w]
        # Joining a v1 cgroup waits for an RCU grace period (~10 ms on a busy host). The host does it, while
        # the sandbox starts up, when it can find the sandbox's processes; else the supervisor joins itself.
        host_attach = self.cgroup is not None and self.ctx.proc_children
        cg_fds = self.cgroup.join_fds() if self.cgroup and not host_attach else []
        child_fds += cg_fds
        allow_net = spec.allow_network
        # Without a mount namespace of its own (tier B, weak) or sharing the host's network namespace, the
        # sandbox could reach host Unix sockets by path or abstract name: no AF_UNIX socket() there.
        deny_unix = spec.tier != "A" or allow_net
        bpf = seccomp.bpf_program(allow_network=allow_net, deny_unix=deny_unix) if report.seccomp else b""
        sc_fd = seccomp.program_fd(bpf) if bpf else None
        if sc_fd is not None:
            child_fds.append(sc_fd)
        # kill(-1) from the supervisor reaches only this sandbox in a pid namespace (A), under a uid of its own
        # (root), or inside a Landlock signal scope (ABI >= 6); elsewhere it would hit the user's processes.
        reap = (spec.tier == "A" or (uid is not None and report.interpreter_b is not None)
                or (spec.tier == "B" and report.landlock_abi >= 6))
        boot: dict[str, Any] = {"mode": spec.mode, "ctl": ctl_r, "res": res_w, "clk": clk_w, "det": det_w,
                                "cg": cg_fds, "path": list(spec.site_packages), "reap": reap,
                                "announce": spec.pooled}
        try:
            if spec.tier == "A":
                interp = Interpreter(**report.interpreter)
                boot["work"] = bwrap.INSIDE_WORK
                same_python = interp.executable == os.path.realpath(sys.executable)
                runner = runner_pyc(self.ctx.root) if same_python else RUNNER_PATH
                supervisor = (runner_pyc(self.ctx.root, SUPERVISOR_PATH, bwrap.INSIDE_SUPERVISOR) if same_python
                              else SUPERVISOR_PATH)
                argv = bwrap.build_argv(
                    interp=interp, runner_host_path=runner, supervisor_host_path=supervisor,
                    boot=json.dumps(boot), uid=uid or 0,
                    is_root=is_root, seccomp_fd=sc_fd if sc_fd is not None else -1, allow_network=allow_net,
                    tmpfs_bytes=spec.limits.max_file_mb * 1024 * 1024, extra_ro=spec.site_packages,
                    env=_minimal_env(bwrap.INSIDE_WORK, "/tmp"))
                env = {"PATH": "/usr/bin:/bin"}
                cwd = "/"
            else:
                argv, env, cwd = self._confined_argv(boot, uid, sc_fd)
            for fd in (out_r, err_r, res_r, clk_r, det_r, ctl_w):
                os.set_blocking(fd, False)
            pass_fds = [ctl_r, res_w, clk_w, det_w, *cg_fds] + ([sc_fd] if sc_fd is not None else [])

            def popen() -> subprocess.Popen[bytes]:
                return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out_w, stderr=err_w,
                                        pass_fds=pass_fds, env=env, cwd=cwd, start_new_session=True)

            # A one-shot run blocks its caller's thread until the sandbox is gone; anything that outlives
            # the call must be forked by a thread that outlives it too.
            self.proc = popen() if spec.mode == "oneshot" and not spec.pooled else spawner.call(popen)
            self.fds["pid"] = os.pidfd_open(self.proc.pid)
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
        self.work_dir = base
        lim = spec.limits
        size = lim.max_file_mb * 1024 * 1024
        work, tmp = workdir.create(base, uid=uid, mount=report.workdir_tmpfs, size_bytes=size,
                                   inodes=lim.max_inodes)
        if not report.workdir_tmpfs:
            self.disk = workdir.DiskGuard([work, tmp], size_bytes=size, inodes=lim.max_inodes, pids=self.pids)
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
        argv = bwrap.interpreter_argv(interp, SUPERVISOR_PATH, RUNNER_PATH, json.dumps(boot))
        return argv, _minimal_env(str(work), str(tmp)), str(work)

    # -- run --------------------------------------------------------------------------------------
    def wait_ready(self, timeout_s: float = STARTUP_TIMEOUT_S) -> bool:
        """Block until the runner is confined, imported and waiting for a request (what a pool waits for)."""
        deadline = time.monotonic() + timeout_s
        poller = select.poll()
        poller.register(self.fds["res"], select.POLLIN)
        poller.register(self.fds["pid"], select.POLLIN)
        while b"\n" not in self.res_buf:
            left = deadline - time.monotonic()
            if left <= 0 or not self.alive():
                return False
            poller.poll(int(left * 1000) + 1)
            chunk = read(self.fds["res"])
            if chunk == b"":
                return False
            if chunk:
                self.res_buf += chunk
        line, _, rest = bytes(self.res_buf).partition(b"\n")
        self.res_buf[:] = rest
        self.ready = parse(line).get("e") == "ready"
        return self.ready

    def alive(self) -> bool:
        """Whether the sandbox can still take a request: not killed, and its process has not exited."""
        return not self.dead and self.proc is not None and self.proc.poll() is None

    def ready_at(self) -> float | None:
        """When the supervisor was about to fork the executor, by its CLOCK_MONOTONIC reading: no code of any
        request can have run before it. Only the supervisor holds the clock pipe.

        The host does not wait on it: being woken for it would cost a context switch per start, and it is
        needed only when a deadline counted from the moment the request was sent has passed.
        """
        if self._ready_at is None:
            while chunk := read(self.fds["clk"]):
                self._clk_buf += chunk
            while b"\n" in self._clk_buf:
                line, _, rest = bytes(self._clk_buf).partition(b"\n")
                self._clk_buf[:] = rest
                msg = parse(line)
                if msg.get("e") == "ready" and finite(msg.get("t")):
                    self._ready_at = float(msg["t"])
        return self._ready_at

    def execute(self, request: dict[str, Any], *, timeout_s: float, max_output_bytes: int,
                max_result_bytes: int, cpu_budget_s: float | None = None) -> RawOutcome:
        """Send one request and watch it to its end; raises SandboxError if the sandbox never started."""
        self.resume()
        return exchange(self, request, timeout_s=timeout_s, max_output_bytes=max_output_bytes,
                        max_result_bytes=max_result_bytes, cpu_budget_s=cpu_budget_s)

    def pids(self) -> list[int]:
        """Every process of this sandbox the host can find: its cgroup, else its uid (root), else none."""
        if self.cgroup is not None:
            return self.cgroup.pids()
        if self.lease is not None:
            return sorted(_runtime.uid_processes({self.lease.uid}))
        return []

    def pause(self) -> None:
        """Stop every process of a session between snippets: background threads and processes neither run
        nor write until the next snippet, whose CPU budget then counts them. Nothing needs stopping when the
        interpreter is the only process besides the supervisor and it waits for the next request."""
        if self.dead:
            return
        sandbox = self._sandbox_pids()
        others = [pid for pid in sandbox if pid != self._supervisor_pid(sandbox)]
        if len(others) == 1 and _runtime.idle_reader(others[0]):
            return
        stopped = _runtime.stop_processes(self._sandbox_pids)
        if stopped is None:
            self.kill()  # its processes would not hold still: the session restarts
        self.paused = stopped or []

    def _sandbox_pids(self) -> list[int]:
        """The processes that run sandbox code (the supervisor and below), without tier A's bwrap pair."""
        pids = self.pids()
        if self.lease is not None:  # as root, bwrap runs as root and everything below it as the lease's uid
            return [pid for pid in pids if _runtime.uid_of(pid) == self.lease.uid]
        if self.spec.tier == "A" and self.proc is not None:
            outer = {self.proc.pid, *_runtime.children(self.proc.pid)}
            return [pid for pid in pids if pid not in outer]
        return pids

    def _supervisor_pid(self, sandbox: list[int]) -> int | None:
        """The supervisor: the Popen'd process in tier B, the oldest sandbox process in tier A."""
        if self._supervisor is None and sandbox:
            self._supervisor = (self.proc.pid if self.spec.tier != "A" and self.proc is not None
                                else min(sandbox, key=lambda pid: (_runtime.start_time(pid), pid)))
        return self._supervisor

    def resume(self) -> None:
        """Let a paused session's processes run again (SIGCONT), before its next snippet."""
        if self.paused:
            _runtime.continue_processes(self._sandbox_pids() or self.paused)
            self.paused = []

    def drain(self, bufs: dict[str, bytearray], trunc: dict[str, bool], cap: int, *, until_eof: bool) -> None:
        """Collect what the pipes still hold: all of it up to EOF after an exit or kill, else what is buffered."""
        deadline = time.monotonic() + (2.0 if until_eof else 0.05)
        open_tags = ["out", "err"]
        while open_tags:
            for tag in list(open_tags):
                fd = self.fds[tag]
                chunk = read(fd)
                if chunk is None:
                    if not until_eof:
                        open_tags.remove(tag)
                    continue
                if not chunk:
                    open_tags.remove(tag)
                    continue
                if append_capped(bufs[tag], chunk, cap):
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
        self.reap_leftovers()

    def reap_leftovers(self) -> None:
        """Kill whatever the sandbox left running outside its pid namespace: its cgroups' processes and,
        below tier A, every process of its uid and its process group."""
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
        pidfd = self.fds.get("pid")
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
        self.resume()
        ctl = self.fds.pop("ctl", None)
        if ctl is not None:
            os.close(ctl)  # a session runner reads EOF and exits
        if self.proc is not None and not self._wait_exit(0.5 if not self.dead else 2.0):
            self.kill()
            self.proc.wait()
        self.dead = True
        self.reap_leftovers()
        if self.cgroup is not None:
            self.cgroup.remove()
        for fd in self.fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds.clear()
        if self.work_dir is not None:
            workdir.remove(self.work_dir)
        if self.lease is not None:
            self.lease.release()
