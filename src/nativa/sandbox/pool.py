"""`SandboxPool`: sandboxes started ahead of time, so a one-shot run skips bwrap and interpreter start-up.

A pooled sandbox is a one-shot runner that has already confined itself and imported what it needs, and
is blocked reading its control pipe. A run takes one, sends the request, and returns as soon as the
runner reports `done`; the spent sandbox is torn down (process exit, cgroup removal, uid release) by a
background reaper, and a replacement is started in the background. Every sandbox still serves exactly
one run: no state, files or processes carry over from one run to the next.

Per-run limits are applied when the request arrives: the runner lowers its rlimits, and the host
rewrites the cgroup's memory ceiling before sending the request.
"""

from __future__ import annotations

import atexit
import contextlib
import queue
import threading
import weakref
from collections import deque
from typing import Any, Self

from nativa.errors import BadInputError, SandboxError
from nativa.sandbox._common import build_result, encode_request, max_result_bytes, record, traced
from nativa.sandbox._worker import Worker
from nativa.sandbox.limits import Limits
from nativa.sandbox.result import RunResult
from nativa.sandbox.sandbox import Sandbox

_live: weakref.WeakSet[SandboxPool] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for pool in list(_live):
        with contextlib.suppress(Exception):
            pool.close()


class SandboxPool:
    """Keeps `size` pre-started one-shot sandboxes ready; `run()` has the same signature as `Sandbox.run()`."""

    def __init__(self, size: int = 2, *, sandbox: Sandbox | None = None, allow_weak: bool | None = None,
                 limits: Limits | None = None) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 64:
            raise BadInputError(f"pool size={size!r} is invalid: use an integer from 1 to 64")
        if sandbox is None:
            sandbox = Sandbox(allow_weak=allow_weak, limits=limits)
        self.sandbox = sandbox
        self.size = size
        self.limits = limits or sandbox.limits
        self._idle: deque[Worker] = deque()
        self._cond = threading.Condition()
        self._starting = 0
        self._closed = False
        self.warm_runs = 0
        """Runs served by a pre-started sandbox."""
        self.cold_runs = 0
        """Runs that found no sandbox ready (or a dead one) and started one, as `Sandbox.run` does."""
        self._retired: queue.Queue[Worker | None] = queue.Queue()
        self._reaper = threading.Thread(target=self._reap, name="nativa-sandbox-reaper", daemon=True)
        self._reaper.start()
        _live.add(self)
        self._refill()

    # -- background work --------------------------------------------------------------------------
    def _refill(self) -> None:
        with self._cond:
            missing = self.size - len(self._idle) - self._starting
            if self._closed or missing <= 0:
                return
            self._starting += missing
        for _ in range(missing):
            threading.Thread(target=self._start_one, name="nativa-sandbox-prestart", daemon=True).start()

    def _start_one(self) -> None:
        worker: Worker | None = None
        try:
            worker = Worker(self.sandbox.report, self.sandbox.spec(mode="oneshot", allow_network=False,
                                                                    limits=self.limits, pooled=True),
                            self.sandbox.ctx)
            if not worker.wait_ready():
                self._retired.put(worker)
                worker = None
        except Exception:  # noqa: BLE001 - a failed pre-start only means the next run starts cold
            worker = None
        with self._cond:
            self._starting -= 1
            if worker is not None and not self._closed:
                self._idle.append(worker)
                worker = None
            self._cond.notify_all()
        if worker is not None:
            self._retired.put(worker)

    def _reap(self) -> None:
        while True:
            worker = self._retired.get()
            if worker is None:
                return
            with contextlib.suppress(Exception):
                worker.close()

    def wait_ready(self, timeout_s: float = 30.0) -> bool:
        """Block until every slot holds a started sandbox (benchmarks use this to measure warm runs only)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._closed or len(self._idle) >= self.size, timeout=timeout_s)

    @property
    def ready(self) -> int:
        """Interpreters started and waiting: a run that finds one skips the start-up."""
        with self._cond:
            return len(self._idle)

    # -- runs -------------------------------------------------------------------------------------
    def _take(self) -> Worker | None:
        with self._cond:
            while self._idle:
                worker = self._idle.popleft()
                if worker.alive():
                    return worker
                self._retired.put(worker)
        return None

    def run(self, code: str, *, files: dict[str, bytes | str] | None = None, stdin: bytes | str | None = None,
            timeout_s: float | None = None, memory_mb: int | None = None, max_output_bytes: int | None = None,
            filename: str = "main.py") -> RunResult:
        """Run `code` in a pre-started sandbox (or a fresh one when none is ready)."""

        limits = self.limits.with_overrides(timeout_s=timeout_s, memory_mb=memory_mb,
                                            max_output_bytes=max_output_bytes)
        return self.run_request(encode_request(code, files=files, stdin=stdin, limits=limits, filename=filename),
                                limits)

    def run_request(self, request: dict[str, Any], limits: Limits) -> RunResult:
        """Run a prepared request in a pre-started sandbox; when none is ready, or the one taken died while
        idle, it runs cold instead of failing (counted in `cold_runs`)."""

        if self._closed:
            raise SandboxError("this sandbox pool is closed")
        sb = self.sandbox
        sb.warn_if_weak()
        worker = self._take()
        if worker is None:
            self.cold_runs += 1
            self._refill()
            return sb.run_request(request, limits, mode="pool-cold")
        layers = sb.report.layers_for(sb.tier)
        with traced("pooled", sb.tier) as attrs:
            try:
                if worker.cgroup is not None:
                    worker.cgroup.set_memory(limits.memory_bytes)
                raw = worker.execute(request, timeout_s=limits.timeout_s, max_output_bytes=limits.max_output_bytes,
                                     max_result_bytes=max_result_bytes(limits), cpu_budget_s=limits.cpu_budget_s)
            except (SandboxError, OSError):
                # The pre-started sandbox died while idle: the run has not started, so start it cold.
                self._retired.put(worker)
                self.cold_runs += 1
                self._refill()
                return sb.run_request(request, limits, mode="pool-cold")
            self._retired.put(worker)
            self.warm_runs += 1
            result = build_result(raw, tier=sb.tier, layers=layers, limits=limits)
            record(attrs, result)
        # Refill only now: a replacement starting during the run would compete with it for the CPU.
        self._refill()
        return result

    def close(self) -> None:
        """Stop pre-starting, end the idle sandboxes, and wait until every sandbox is fully cleaned up."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            idle = list(self._idle)
            self._idle.clear()
            self._cond.notify_all()
        for worker in idle:
            self._retired.put(worker)
        self._retired.put(None)
        self._reaper.join(timeout=30)
        _live.discard(self)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
