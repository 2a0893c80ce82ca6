"""Model work on worker threads, driven from the event loop, and stopped when nobody wants it any more.

llama.cpp blocks its thread while it decodes, so each job runs on a worker thread while the event loop
keeps serving. Its events (streamed text, agent attempts) come back through an asyncio queue. A job
checks its `JobControl` between tokens, so a timeout, a client that hangs up or a shutdown stops the
model within one token instead of letting it decode for nobody. Its gate slot is released when the
thread returns, never earlier.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Executor
from typing import Any, Generic, TypeVar

from starlette.requests import Request

from nativa.errors import (  # noqa: F401 - defined in nativa.errors, importable from here as before
    Cancelled,
    CancelledError,
    ClientGone,
    ClientGoneError,
    ModelError,
    NativaError,
    RequestTimeout,
    RequestTimeoutError,
)
from nativa.models.base import ChatModel, Completion, Delta, GenerationOptions, MessagesLike, collect
from nativa.serve.queue import Gate

T = TypeVar("T")
log = logging.getLogger("nativa.serve")
Emit = Callable[[Any], None]
_DONE = "done"
_ERROR = "error"


class JobControl:
    """Shared between the handler and the worker thread: the handler cancels, the worker checks."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason: str | None = None

    def cancel(self, reason: str) -> None:
        """Ask the job to stop; the first reason given is the one kept (timeout, disconnect, shutdown)."""
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    @property
    def cancelled(self) -> bool:
        """Whether a cancel was asked for; a batching model polls this to drop its sequences."""
        return self._event.is_set()

    def check(self) -> None:
        """Raise `CancelledError` (with the reason) once cancelled; the worker calls it between tokens."""
        if self._event.is_set():
            raise CancelledError(self.reason or "cancelled")


class CancellableModel:
    """A `ChatModel` that stops between tokens once its job is cancelled (the agents call the model
    themselves, so this is how their work stops too)."""

    def __init__(self, model: ChatModel, control: JobControl) -> None:
        self._model = model
        self._control = control
        self.name = model.name
        self.provider = model.provider
        self.remote = model.remote

    def count_tokens(self, text: str) -> int:
        """The wrapped model's count, unchecked: counting is quick and never needs stopping."""
        return self._model.count_tokens(text)

    def stream(self, messages: MessagesLike, options: GenerationOptions | None = None) -> Iterator[Delta]:
        """The wrapped model's stream, checked before and after each token; a cancel closes the stream."""
        self._control.check()
        stream = self._model.stream(messages, options)
        try:
            for delta in stream:
                self._control.check()
                yield delta
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()  # ends llama.cpp's generator on this thread, releasing the model's lock

    def complete(self, messages: MessagesLike, options: GenerationOptions | None = None) -> Completion:
        """The streamed reply collected, so a cancel stops a completion between tokens too."""
        return collect(self.stream(messages, options))

    def complete_many(self, messages: MessagesLike, options: GenerationOptions | None = None,
                      n: int = 1) -> list[Completion]:
        """The wrapped model's draw, refused once cancelled and not handed back after a cancel; a batching
        model (one with `batch_stream`) also drops the draw's sequences within a step of the cancel."""
        self._control.check()
        try:
            if callable(getattr(self._model, "batch_stream", None)):
                completions: list[Completion] = self._model.complete_many(  # type: ignore[call-arg]
                    messages, options, n, should_stop=lambda: self._control.cancelled)
            else:
                completions = self._model.complete_many(messages, options, n)
        except ModelError:
            self._control.check()  # a cancelled draw's sequences were dropped: that is the cancel, not a fault
            raise
        self._control.check()
        return completions


class RunningJob(Generic[T]):
    """One admitted job: its future, its event queue, and the deadline and client it answers to."""

    def __init__(self, future: asyncio.Future[T], events: asyncio.Queue[Any], control: JobControl,
                 request: Request | None, deadline: float) -> None:
        self.future = future
        self.events = events
        self.control = control
        self.deadline = deadline
        self._watch: asyncio.Task[None] | None = (
            asyncio.ensure_future(_wait_disconnect(request)) if request is not None else None)

    def remaining(self) -> float:
        """Seconds left before the request's deadline (negative once it has passed)."""
        return self.deadline - time.monotonic()

    async def _wait(self, awaitable: asyncio.Future[Any]) -> Any:
        """The awaitable's result, unless the deadline passes or the client leaves first (then cancel)."""
        try:
            waiting: set[asyncio.Future[Any]] = {awaitable}
            if self._watch is not None:
                waiting.add(self._watch)
            done, _ = await asyncio.wait(waiting, timeout=max(0.0, self.remaining()),
                                         return_when=asyncio.FIRST_COMPLETED)
            if awaitable in done:
                return awaitable.result()
            if self._watch is not None and self._watch in done:
                self.control.cancel("disconnect")
                raise ClientGoneError("the client disconnected")
            self.control.cancel("timeout")
            raise RequestTimeoutError("the request did not finish within its timeout")
        except BaseException:
            if not self.future.done():
                self.control.cancel("disconnect")  # the handler itself was cancelled (shutdown, hang-up)
            raise

    async def result(self) -> T:
        """The job's result; a passed deadline or a client that left cancels it and raises instead."""
        try:
            return await self._wait(self.future)  # type: ignore[no-any-return]
        finally:
            self.stop_watching()

    async def first_event(self) -> Any:
        """The first event (or the job's error), so a stream can still answer with a proper status."""
        getter = asyncio.ensure_future(self.events.get())
        try:
            item = await self._wait(getter)
        finally:
            getter.cancel()
        if item[0] == _ERROR:
            self.stop_watching()
            raise item[1]
        return item

    def stop_watching(self) -> None:
        """Stop listening for a disconnect (a streaming response listens for itself)."""
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None

    async def rest(self) -> AsyncIterator[Any]:
        """The remaining events, ending with `("done", result)`; the job's error is raised; an abandoned
        job is cancelled."""
        ended = False
        try:
            while True:
                try:
                    item = await asyncio.wait_for(self.events.get(), max(0.001, self.remaining()))
                except TimeoutError:
                    self.control.cancel("timeout")
                    raise RequestTimeoutError("the request did not finish within its timeout") from None
                if item[0] == _ERROR:
                    ended = True
                    raise item[1]
                if item[0] == _DONE:
                    ended = True  # the thread may not have returned yet, but the work is complete
                yield item
                if ended:
                    return
        finally:
            if not ended and not self.future.done():
                self.control.cancel("disconnect")


async def _wait_disconnect(request: Request) -> None:
    """Returns when the client hangs up (the server sends `http.disconnect` once the body is read)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def start_job(gate: Gate, executor: Executor, work: Callable[[JobControl, Emit], T], *,
                    request: Request | None, timeout_s: float, controls: set[JobControl]) -> RunningJob[T]:
    """Wait for a slot (bounded by the deadline), then run `work` on a worker thread in this context."""
    deadline = time.monotonic() + timeout_s
    try:
        await asyncio.wait_for(gate.acquire(), timeout_s)
    except TimeoutError:
        raise RequestTimeoutError(f"the request waited {timeout_s:g} s for the model without getting a turn") from None
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[Any] = asyncio.Queue()
    control = JobControl()

    def emit(item: Any) -> None:
        try:
            loop.call_soon_threadsafe(events.put_nowait, item)
        except RuntimeError:  # the loop is gone (shutdown): nobody is listening
            control.cancel("shutdown")

    def body() -> T:
        try:
            result = work(control, emit)
        except BaseException as exc:
            emit((_ERROR, exc))
            raise
        emit((_DONE, result))
        return result

    started = time.perf_counter()
    context = contextvars.copy_context()  # the request's span becomes the parent of the job's spans
    try:
        future: asyncio.Future[T] = loop.run_in_executor(executor, context.run, body)
    except BaseException:
        gate.release()
        raise
    controls.add(control)

    def finished(done: asyncio.Future[T]) -> None:
        controls.discard(control)
        error = None if done.cancelled() else done.exception()  # retrieved: reported through the events
        if control.cancelled and error is not None and not isinstance(error, NativaError):
            # nobody was left to read it (timeout, hang-up, shutdown), so the log is the only place it goes
            log.warning("a job abandoned (%s) then failed: %s: %s", control.reason, type(error).__name__, error,
                        exc_info=error)
        gate.release(time.perf_counter() - started)

    future.add_done_callback(finished)
    return RunningJob(future, events, control, request, deadline)
