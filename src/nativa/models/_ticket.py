"""What a caller of the batched decoder holds: a ticket for n samples of one prompt.

The engine's thread puts events on it (text deltas, finished completions, or the failure); the caller's
thread reads them, as a stream of `Delta`s for one sample or as all n completions at once. Cancelling it
(or closing its stream) makes the engine drop its sequences at the next step.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

from nativa.models.base import Completion, Delta


class BatchTicket:
    """n samples of one prompt in the engine: their text as it streams and their completions."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._events: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._cancelled = threading.Event()

    # -- the engine's side -------------------------------------------------------------------------
    def _delta(self, i: int, text: str) -> None:
        self._events.put(("delta", i, text))

    def _done(self, i: int, completion: Completion) -> None:
        self._events.put(("done", i, completion))

    def _fail(self, exc: BaseException) -> None:
        self._events.put(("error", exc))

    # -- the caller's side -------------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop at the next step and free the sequences (nothing more arrives)."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        """Whether the caller cancelled: the engine frees the job's sequences at its next step."""
        return self._cancelled.is_set()

    def stream(self) -> Iterator[Delta]:
        """Sample 0's text deltas, then a last delta carrying its completion; closing it cancels the ticket."""
        try:
            while True:
                event = self._events.get()
                if event[0] == "error":
                    raise event[1]
                if event[1] != 0:
                    continue
                if event[0] == "delta":
                    yield Delta(event[2])
                else:
                    yield Delta("", event[2])
                    return
        finally:
            self.cancel()

    def result(self) -> list[Completion]:
        """All n completions, in sample order; raises what failed the ticket."""
        done: dict[int, Completion] = {}
        while len(done) < self.n:
            event = self._events.get()
            if event[0] == "error":
                raise event[1]
            if event[0] == "done":
                done[event[1]] = event[2]
        return [done[i] for i in range(self.n)]
