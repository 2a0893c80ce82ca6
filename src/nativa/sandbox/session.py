"""`SandboxSession`: one sandboxed interpreter kept alive across snippets, like a notebook kernel.

An agent's multi-step work (load data, inspect it, fix a function, test it) needs state between steps;
re-running everything each step would be slow and would change results. A session keeps its globals,
imports and work dir between `run()` calls, with the same limits applied to every snippet. When a snippet
kills the interpreter (timeout, output cap, memory, a crash) that snippet's result says so, and the next
`run()` starts a fresh sandbox: `restarts` counts how often state was lost.

Snippets are compiled as `cell<N>.py`, so a traceback through a function defined three snippets ago
points at the right snippet and line.
"""

from __future__ import annotations

import threading
import weakref
from typing import Self

from nativa.errors import SandboxError
from nativa.sandbox._common import build_result, encode_request, max_result_bytes, record, traced
from nativa.sandbox._worker import Worker
from nativa.sandbox.limits import Limits
from nativa.sandbox.probe import Tier
from nativa.sandbox.result import RunResult
from nativa.sandbox.sandbox import Sandbox


class SandboxSession:
    """A persistent sandboxed interpreter; use as a context manager or call `close()`."""

    def __init__(self, *, timeout_s: float | None = None, memory_mb: int | None = None,
                 max_output_bytes: int | None = None, allow_network: bool = False, allow_weak: bool | None = None,
                 tier: Tier | None = None, site_packages: bool = False, limits: Limits | None = None,
                 sandbox: Sandbox | None = None) -> None:
        self._sandbox = sandbox or Sandbox(allow_weak=allow_weak, tier=tier, site_packages=site_packages)
        self.limits = (limits or self._sandbox.limits).with_overrides(timeout_s=timeout_s, memory_mb=memory_mb,
                                                                max_output_bytes=max_output_bytes)
        self.allow_network = allow_network
        self.restarts = 0
        self.snippets = 0
        self._worker: Worker | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._start()
        self._finalizer = weakref.finalize(self, SandboxSession._finalize, [self._worker])

    @property
    def tier(self) -> Tier:
        """The tier this session's interpreter runs at."""
        return self._sandbox.tier

    @property
    def layers(self) -> list[str]:
        """The isolation layers of this session's interpreter."""
        return self._sandbox.report.layers_for(self.tier, allow_network=self.allow_network)

    @staticmethod
    def _finalize(holder: list[Worker | None]) -> None:
        for worker in holder:
            if worker is not None:
                worker.close()

    def _start(self) -> None:
        self._worker = Worker(self._sandbox.report,
                              self._sandbox.spec(mode="session", allow_network=self.allow_network, limits=self.limits),
                              self._sandbox.ctx)
        if hasattr(self, "_finalizer"):
            self._finalizer.detach()
            self._finalizer = weakref.finalize(self, SandboxSession._finalize, [self._worker])

    @property
    def alive(self) -> bool:
        """Whether the interpreter still runs (a crash or a kill ends the session's state)."""
        return self._worker is not None and self._worker.alive()

    def run(self, code: str, *, files: dict[str, bytes | str] | None = None, stdin: bytes | str | None = None,
            timeout_s: float | None = None, filename: str | None = None) -> RunResult:
        """Run one snippet in the session's interpreter; globals persist until a snippet kills it."""

        limits = self.limits.with_overrides(timeout_s=timeout_s)
        with self._lock:
            if self._closed:
                raise SandboxError("this sandbox session is closed")
            self.snippets += 1
            request = encode_request(code, files=files, stdin=stdin, limits=limits,
                                     filename=filename or f"cell{self.snippets}.py")
            self._sandbox.warn_if_weak()
            if self._worker is None or not self._worker.alive():
                if self._worker is not None:
                    self._worker.close()
                    self.restarts += 1
                self._start()
            worker = self._worker
            assert worker is not None
            with traced("session", self.tier) as attrs:
                raw = worker.execute(request, timeout_s=limits.timeout_s, max_output_bytes=limits.max_output_bytes,
                                     max_result_bytes=max_result_bytes(limits), cpu_budget_s=limits.cpu_budget_s)
                result = build_result(raw, tier=self.tier, layers=self.layers, limits=limits)
                record(attrs, result)
            if not worker.dead:
                worker.pause()  # nothing of the session runs (or spends CPU) until the next snippet
            if worker.dead:
                worker.close()
            return result

    def close(self) -> None:
        """End the interpreter and remove everything it held (idempotent)."""
        with self._lock:
            self._closed = True
            if self._worker is not None:
                self._worker.close()
            self._finalizer.detach()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
