"""Bounded admission in front of a model: a few jobs run, a bounded number wait, the rest are told to retry.

An embedded model answers one request at a time (or, batching, `max_batch` at once), so an unbounded queue
only turns overload into timeouts for everyone; refusing early (429 with `Retry-After`) lets clients back
off or go elsewhere. Waiting is
FIFO and lives on the event loop, so a waiter that times out or whose client leaves costs nothing and
never reaches the model. A slot is released when the model work really ends (its thread returns), not
when the HTTP handler gives up, so an abandoned job can never put two jobs on the model at once.

All methods run on the event loop thread.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque

from nativa.errors import NativaError, QueueFullError, ShuttingDownError  # noqa: F401 - defined in nativa.errors, importable from here as before


class Gate:
    """`concurrency` jobs hold a slot; up to `max_queue` more wait in arrival order; others are refused."""

    def __init__(self, concurrency: int = 1, max_queue: int = 16, name: str = "model") -> None:
        if concurrency < 1 or max_queue < 0:
            raise ValueError(f"concurrency must be >= 1 and max_queue >= 0, got {concurrency}, {max_queue}")
        self.name = name
        self.concurrency = concurrency
        self.max_queue = max_queue
        self.running = 0
        self.rejected = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False
        self._service_s = 1.0  # moving average of how long a slot is held, for Retry-After
        self._idle: asyncio.Event | None = None

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot now (ones that gave up are not counted)."""
        return sum(1 for w in self._waiters if not w.done())

    @property
    def closed(self) -> bool:
        """Whether `close()` was called: the gate admits nothing more."""
        return self._closed

    def retry_after_s(self) -> int:
        """Seconds until a queue place is likely free: the queue ahead drains at `concurrency` per service."""
        ahead = self.waiting + self.running
        return max(1, math.ceil(self._service_s * ahead / self.concurrency))

    async def acquire(self) -> None:
        """Take a slot, waiting in line if needed; raises `QueueFullError` at once when the line is full."""
        if self._closed:
            raise ShuttingDownError("the server is shutting down and takes no new requests; retry elsewhere")
        if self.running < self.concurrency and not self.waiting:
            self.running += 1
            return
        if self.waiting >= self.max_queue:
            self.rejected += 1
            retry = self.retry_after_s()
            raise QueueFullError(
                f"model '{self.name}' is busy: {self.running} running and {self.waiting} waiting "
                f"(--max-queue {self.max_queue}); retry after {retry} s", retry)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.release()  # the slot was handed over just as we gave up: pass it on
            else:
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    pass
            raise

    def widen(self, concurrency: int) -> None:
        """Let more jobs hold a slot at once (a model that turned out to batch); waiters move up at once."""
        if concurrency <= self.concurrency:
            return
        self.concurrency = concurrency
        while self.running < self.concurrency and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.running += 1
                waiter.set_result(None)

    def release(self, held_s: float | None = None) -> None:
        """Give the slot to the next live waiter, or free it."""
        if held_s is not None:
            self._service_s = 0.8 * self._service_s + 0.2 * max(held_s, 0.001)
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot moves on; `running` is unchanged
                return
        self.running = max(0, self.running - 1)
        if self.running == 0 and self._idle is not None:
            self._idle.set()

    def close(self) -> None:
        """Stop admitting; waiters are refused with `ShuttingDownError`, running jobs go on."""
        self._closed = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(ShuttingDownError("the server is shutting down; this request was not run"))

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no job holds a slot; False if some still did after `timeout_s`."""
        if self.running == 0:
            return True
        self._idle = asyncio.Event()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
            return True
        except TimeoutError:
            return False
