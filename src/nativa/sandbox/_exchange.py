"""One request to a started sandbox, watched from the host until it ends: what the host observed, typed.

The host reads five pipes at once: stdout and stderr (capped), the supervisor's result pipe (trusted: the
executor's exit status), the executor's report pipe (untrusted: error type, traceback, files) and, lazily,
the supervisor's clock pipe. Every decision that ends a run is the host's own: its deadline counts from the
moment it sent the request, or, for a sandbox still starting, from the supervisor's "ready" record, written
before the executor exists (so before any code can run); the CPU time of all the sandbox's processes is
read from the CPU cgroup; OOM kills from the memory cgroup; the disk budget (tier B without tmpfs) from the
filesystem. None of these can be moved by anything the code writes.
"""

from __future__ import annotations

import json
import os
import selectors
import time
from typing import TYPE_CHECKING, Any

from nativa.errors import SandboxError
from nativa.sandbox._outcome import RawOutcome, finite, merge, parse

if TYPE_CHECKING:
    from nativa.sandbox._worker import Worker

_READ_CHUNK = 65536
STARTUP_TIMEOUT_S = 30.0
"""How long a cold sandbox may take to start (bwrap, interpreter, confinement) before the run is an error."""
CHECK_S = 0.05
"""How often the host reads the cgroups (OOM kills, CPU time) and the disk budget during a run."""


def exchange(w: Worker, request: dict[str, Any], *, timeout_s: float, max_output_bytes: int,
             max_result_bytes: int, cpu_budget_s: float | None = None) -> RawOutcome:
    """Send one request and watch it to its end; raises SandboxError if the sandbox never started."""
    if w.dead or w.proc is None:
        raise SandboxError("this sandbox has already ended")
    session = w.spec.mode == "session"
    w.seq += 1
    payload = memoryview((json.dumps({**request, "seq": w.seq}, separators=(",", ":")) + "\n").encode())
    fds = w.fds
    raw = RawOutcome()
    bufs = {"out": bytearray(), "err": bytearray()}
    trunc = {"out": False, "err": False}
    det_buf = bytearray()
    details: dict[str, Any] | None = None  # the session's answer to this snippet
    reports: list[dict[str, Any]] = []  # a one-shot executor's reports (a failure is reported before atexit)
    verdict: dict[str, Any] | None = None
    _discard(fds["det"])  # a report still unread belongs to an earlier snippet (or to its background code)
    cg = w.cgroup
    oom_base = cg.oom_kills() if cg else 0
    cpu_base = cg.cpu_usage_s() if cg else None
    cpu_limit = cpu_budget_s if cpu_budget_s is not None else timeout_s
    if w.disk is not None:
        w.disk.begin()
    periodic = cg is not None or w.disk is not None
    t0 = time.monotonic()
    try:
        payload = payload[os.write(fds["ctl"], payload):]
    except BlockingIOError:
        pass
    except BrokenPipeError:
        payload = payload[:0]
    sel = selectors.DefaultSelector()
    for tag in ("out", "err", "res", "det", "pid"):
        sel.register(fds[tag], selectors.EVENT_READ, tag)
    if payload:
        sel.register(fds["ctl"], selectors.EVENT_WRITE, "ctl")
    start_limit = t0 + STARTUP_TIMEOUT_S
    deadline = t0 + timeout_s  # final once the supervisor's "ready" time is known and earlier than t0
    exited = False
    t_end: float | None = None
    next_check = t0 + CHECK_S
    try:
        while verdict is None and (details is None or not session) and not exited and raw.killed_by is None:
            now = time.monotonic()
            if now >= deadline:
                ready = w.ready_at()
                if ready is not None:
                    deadline = min(max(ready, t0), start_limit) + timeout_s
                    if now >= deadline:
                        raw.killed_by = "timeout"
                        break
                elif now >= start_limit:
                    w.kill()
                    raise SandboxError(f"the sandbox did not start within {STARTUP_TIMEOUT_S:.0f} s")
                else:
                    deadline = min(now + CHECK_S, start_limit)  # still starting up: look again shortly
                continue
            if periodic and now >= next_check:
                next_check = now + CHECK_S
                if _over_limits(w, raw, oom_base, cpu_base, cpu_limit):
                    break
            wait = deadline - now
            if periodic:
                wait = min(wait, max(next_check - now, 0.0))
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
                elif tag != "pid":
                    chunk = read(fds[tag])
                    if chunk is None:
                        continue
                    if not chunk:
                        sel.unregister(fds[tag])
                        continue
                    if tag in ("out", "err"):
                        if append_capped(bufs[tag], chunk, max_output_bytes):
                            trunc[tag] = True
                            raw.killed_by = "output"
                        continue
                    buf = w.res_buf if tag == "res" else det_buf
                    buf += chunk
                    if len(buf) > max_result_bytes:
                        raw.killed_by = "output"
                        raw.notes.append("result channel overflow")
                        break
                    for msg in _lines(buf):
                        if tag == "res" and msg.get("e") == "done":
                            verdict = msg
                        elif tag == "det" and msg.get("e") == "result":
                            if not session:
                                reports.append(msg)
                            elif msg.get("seq") == w.seq:
                                details, t_end = msg, time.monotonic()
                else:
                    exited = True
    finally:
        sel.close()
    ready = w.ready_at()
    if raw.killed_by is not None:
        w.kill()
    elif exited and verdict is None and details is None:
        w.dead = True
        if ready is None:
            status = w.proc.wait()
            tail = bytes(bufs["err"][-2000:]).decode("utf-8", "replace").strip()
            w.drain(bufs, trunc, max_output_bytes, until_eof=True)
            tail = bytes(bufs["err"][-2000:]).decode("utf-8", "replace").strip() or tail
            raise SandboxError(f"the sandbox failed to start (exit status {status}): {tail or 'no output'}")
        w.reap_leftovers()
    ended = verdict is not None or (session and details is not None)
    if verdict is not None:
        w.dead = True  # the supervisor reports only the end of its executor, and then exits itself
    if ended and raw.killed_by is None:
        w.drain(bufs, trunc, max_output_bytes, until_eof=False)
        if verdict is not None and not session:
            # The executor wrote its report before it exited, so what is left of it is in the pipe now.
            while chunk := read(fds["det"]):
                det_buf += chunk[: max(0, max_result_bytes - len(det_buf))]
            reports += [m for m in _lines(det_buf) if m.get("e") == "result"]
    else:
        w.drain(bufs, trunc, max_output_bytes, until_eof=True)
        if w.proc.poll() is None and raw.killed_by is None:
            w.kill()
        raw.exit_status = w.proc.wait() if w.dead else None
        raw.lost = raw.killed_by is None  # it ended, but not by a verdict the host can believe
    if cg is not None and cg.oom_kills() > oom_base:
        raw.oom_killed = True
    if cpu_base is not None and (cpu_now := cg.cpu_usage_s() if cg else None) is not None:
        raw.cpu_s = round(max(0.0, cpu_now - cpu_base), 6)
    begin = min(max(ready, t0), start_limit) if ready is not None else t0
    end = t_end or time.monotonic()
    if verdict is not None:
        merge(raw, verdict, reports if not session else [details] if details else [])
        end = min(end, _num(verdict.get("t1"), end))  # when the supervisor saw the executor end
    elif ended and details is not None:
        merge(raw, None, [details])
    raw.duration_s = max(0.0, end - begin)
    raw.stdout, raw.stderr = bytes(bufs["out"]), bytes(bufs["err"])
    raw.stdout_truncated, raw.stderr_truncated = trunc["out"], trunc["err"]
    return raw


def _over_limits(w: Worker, raw: RawOutcome, oom_base: int, cpu_base: float | None, cpu_limit: float) -> bool:
    """The periodic checks of a run: an OOM kill, the CPU budget, the disk budget. True: the run is over."""
    cg = w.cgroup
    if cg is not None:
        # The cgroup's OOM killer picks a victim and lets the rest run on in a broken state; the sandbox as a
        # whole hit its ceiling, so end it and say so.
        if cg.oom_kills() > oom_base:
            raw.killed_by = "memory"
            return True
        if cpu_base is not None:
            used = cg.cpu_usage_s()
            if used is not None and used - cpu_base > cpu_limit:
                raw.killed_by, raw.kill_detail = "timeout", "cpu"
                return True
    if w.disk is not None:
        why = w.disk.over()
        if why is not None:
            raw.killed_by = "disk"
            raw.notes.append(why)
            return True
    return False


def _num(value: object, default: float) -> float:
    return float(value) if finite(value) else default


def _lines(buf: bytearray) -> list[dict[str, Any]]:
    """Take every complete line out of `buf`, parsed (a line that is not a JSON object reads as {})."""
    out = []
    while (i := buf.find(b"\n")) >= 0:
        out.append(parse(bytes(buf[:i])))
        del buf[: i + 1]
    return out


def _discard(fd: int) -> None:
    while read(fd):
        pass


def read(fd: int) -> bytes | None:
    """One non-blocking read: None when nothing is there yet, b"" at end of file."""
    try:
        return os.read(fd, _READ_CHUNK)
    except BlockingIOError:
        return None


def append_capped(buf: bytearray, chunk: bytes, cap: int) -> bool:
    """Keep at most `cap` bytes in `buf`; True when `chunk` did not fit (the stream is over its cap)."""
    room = cap - len(buf)
    if len(chunk) <= room:
        buf += chunk
        return False
    if room > 0:
        buf += chunk[:room]
    return True
