"""Continuous batching in serving: concurrent chat requests to an embedded model share its running batch.

The batch itself (a new request's prompt evaluated between steps, one `llama_decode` per step for every
running sequence, each sequence leaving on its own stop, `max_tokens` or cancellation) is the model's
`BatchEngine` (`nativa.models.batch`), shared with the agent's candidates. What serving adds is admission:
the model's gate lets up to `max_batch` requests in at once instead of one, the rest wait in its queue (429
when that is full, 504 past their timeout, as before), each admitted request streams its sequence's text
from a worker thread of its own, and a request whose client leaves or whose time runs out is dropped from
the batch at the next step, freeing its sequence for the next request in the queue.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from nativa.errors import ModelError
from nativa.models.base import ChatModel, Delta, GenerationOptions, Message, MessagesLike, as_messages
from nativa.serve.jobs import CancellableModel, JobControl
from nativa.serve.metrics import ServerMetrics
from nativa.serve.slots import ModelSlot

StreamFn = Callable[[Sequence[Message], GenerationOptions], Iterator[Delta]]


def batch_width(model: ChatModel) -> int:
    """How many requests the model decodes together (1: it answers one at a time)."""
    if not callable(getattr(model, "batch_stream", None)):
        return 1
    return max(1, int(getattr(model, "max_batch", 1)))


class BatchAdmission:
    """Per server: widens each batching model's gate to its batch width, once, and keeps the worker threads
    its admitted requests stream on (one each, so a full batch never waits for a thread)."""

    def __init__(self, metrics: ServerMetrics | None = None) -> None:
        self._metrics = metrics
        self._lock = threading.Lock()
        self._executors: dict[str, ThreadPoolExecutor] = {}

    def executor(self, slot: ModelSlot) -> ThreadPoolExecutor | None:
        """The batch's workers for this slot, or None when its model does not batch (the default pool)."""
        with self._lock:
            existing = self._executors.get(slot.name)
            if existing is not None:
                return existing
        model = slot.resolve()
        width = batch_width(model)
        if width < 2:
            return None
        with self._lock:
            pool = self._executors.get(slot.name)
            if pool is None:
                pool = ThreadPoolExecutor(max_workers=width, thread_name_prefix=f"nativa-batch-{slot.name}")
                self._executors[slot.name] = pool
                slot.gate.widen(width)
                if self._metrics is not None:
                    self._metrics.watch_batch(slot.name, lambda: float(getattr(model, "batch_running", 0)))
            return pool

    def shutdown(self) -> None:
        """Stop every batch's worker threads without waiting; requests not yet started are dropped."""
        with self._lock:
            pools, self._executors = list(self._executors.values()), {}
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)


def stream_for(model: ChatModel, control: JobControl) -> StreamFn:
    """The chat stream for one job: a sequence of the running batch when the model batches, else the model's
    own stream; both stop within a step (or a token) of `control` being cancelled."""
    batched: Any = getattr(model, "batch_stream", None)
    if batch_width(model) < 2:
        return lambda messages, options: CancellableModel(model, control).stream(list(messages), options)

    def stream(messages: Sequence[Message], options: GenerationOptions) -> Iterator[Delta]:
        control.check()
        deltas = batched(list(messages), options, should_stop=lambda: control.cancelled)
        try:
            for delta in deltas:
                control.check()
                yield delta
        except ModelError:
            control.check()  # a stopped job's sequence was dropped: that is the cancellation, not a fault
            raise
        finally:
            deltas.close()  # leaves the batch at the next step if it has not finished

    return stream


class JobStream:
    """The model as one job sees it: the same name and token counts, streaming through `stream_for`, so the
    one traced model-call path (`traced_complete`) serves a request that joins the running batch too."""

    def __init__(self, model: ChatModel, control: JobControl) -> None:
        self._model = model
        self._stream = stream_for(model, control)
        self.name, self.provider, self.remote = model.name, model.provider, model.remote

    def count_tokens(self, text: str) -> int:
        """The model's own count, so context budgeting is the same inside a batch."""
        return self._model.count_tokens(text)

    def stream(self, messages: MessagesLike, options: GenerationOptions | None = None) -> Iterator[Delta]:
        """The job's stream: a sequence of the running batch, or the model's own stream if it does not batch."""
        return self._stream(as_messages(messages), options or GenerationOptions())
