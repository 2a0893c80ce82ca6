"""The runs this server is executing or has just executed, with their progress, for the console.

The session store keeps the runs made inside a session; this board also knows the ones made without one,
and the ones still going: each route tracks its work here (on the worker thread), and the console streams a
running one's progress to the browser as server-sent events. It is bounded (the newest `capacity` runs) and
lives as long as the process: a run that must outlive a restart belongs in a session.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from nativa import tracing

RunKind = Literal["code", "run", "chat"]
RunStatus = Literal["running", "passed", "failed", "error", "awaiting_approval"]
Emit = Callable[[Any], None]
_END = {"type": "end"}


@dataclass
class LiveRun:
    """One run on the board. `events` are short progress records (never whole results), safe to stream."""

    id: str
    kind: RunKind
    task: str
    session: str | None
    trace_id: str | None
    started_at: float
    status: RunStatus = "running"
    ended_at: float | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def running(self) -> bool:
        """Whether the run is still going (the board never drops one that is)."""
        return self.status == "running"


_PHASES = {"attempt_start": "started", "model_done": "model answered", "run_done": "ran"}


def attempt_event(kind: str, attempt: dict[str, Any]) -> dict[str, Any]:
    """What the browser is told as an attempt starts, gets the model's answer and runs (no code: the run page
    has it); the outcome only once the sandbox ran it."""
    done = kind == "run_done"
    return {"type": "attempt", "phase": _PHASES.get(kind, kind), "number": attempt.get("number"),
            "strategy": attempt.get("strategy"), "outcome": attempt.get("outcome") if done else None,
            "error_type": attempt.get("error_type") if done else None,
            "output_tokens": attempt.get("output_tokens", 0), "duration_s": attempt.get("duration_s", 0.0)}


def status_of(kind: RunKind, result: dict[str, Any]) -> RunStatus:
    """passed: the code passed its checks, the tool agent answered, the chat replied."""
    if kind == "code":
        return "passed" if result.get("success") else "failed"
    if kind == "run":
        return "passed" if result.get("answer") is not None else "failed"
    return "passed"


def chat_result(completion: Any) -> dict[str, Any]:
    """A chat completion as the board keeps it: the reply, its tokens and time."""
    return {"reply": completion.text, "finish_reason": completion.finish_reason, "model": completion.model,
            "input_tokens": completion.input_tokens, "output_tokens": completion.output_tokens,
            "latency_s": completion.latency_s, "trace_id": tracing.current_trace_id()}


class Tracker:
    """The handle a route's work holds while it runs: progress in, the result out."""

    def __init__(self, board: RunBoard, run: LiveRun) -> None:
        self.board = board
        self.run = run

    def tee(self, emit: Emit | None) -> Emit:
        """An `emit` for the agents that also records attempt and step progress on the board."""
        def both(item: Any) -> None:
            if isinstance(item, tuple) and item and item[0] == "event" and len(item) == 3:
                self.board.publish(self.run, attempt_event(str(item[1]), item[2]))
            elif isinstance(item, tuple) and item and item[0] == "step":
                step = item[1] if isinstance(item[1], dict) else {}
                self.board.publish(self.run, {"type": "step", "tool": step.get("tool"), "error": step.get("error")})
            if emit is not None:
                emit(item)
        return both

    def finish(self, result: dict[str, Any]) -> None:
        """End the run on the board with the agent's result; its status is read from the result."""
        self.board.end(self.run, status_of(self.run.kind, result), result=result)

    def pause(self) -> None:
        """The run stopped for a person's approval; the paused-run store has it from here (`p-<id>`)."""
        self.board.end(self.run, "awaiting_approval")


class RunBoard:
    """Live and recent runs of this process, newest last; thread-safe; subscribers get events as they come."""

    def __init__(self, capacity: int = 500) -> None:
        self.capacity = capacity
        self._runs: OrderedDict[str, LiveRun] = OrderedDict()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._subscribers: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any]]]]] = {}

    @contextmanager
    def track(self, kind: RunKind, task: str, session: str | None = None) -> Iterator[Tracker]:
        """Put a run on the board for the length of the block; an exception ends it as `error`."""
        run = self.start(kind, task, session)
        tracker = Tracker(self, run)
        try:
            yield tracker
        except BaseException as exc:
            self.end(run, "error", error=_reason(exc))
            raise
        if run.running:  # the block returned without a result (nothing to judge): it still ended
            self.end(run, "passed")

    def start(self, kind: RunKind, task: str, session: str | None = None) -> LiveRun:
        """A new running run on the board, with the current trace id; past `capacity` the oldest leave
        (unless still running)."""
        with self._lock:
            run = LiveRun(id=f"live-{next(self._ids)}", kind=kind, task=task, session=session,
                          trace_id=tracing.current_trace_id(), started_at=time.time())
            self._runs[run.id] = run
            while len(self._runs) > self.capacity:
                oldest = next(iter(self._runs))
                if self._runs[oldest].running:  # never drop a run that is still going
                    self._runs.move_to_end(oldest)
                    break
                del self._runs[oldest]
        return run

    def publish(self, run: LiveRun, event: dict[str, Any]) -> None:
        """Append a progress event to the run and pass it to the run's subscribers."""
        with self._lock:
            run.events.append(event)
            listeners = list(self._subscribers.get(run.id, ()))
        for loop, queue in listeners:
            _deliver(loop, queue, event)

    def end(self, run: LiveRun, status: RunStatus, *, result: dict[str, Any] | None = None,
            error: str | None = None) -> None:
        """Mark the run ended (once; later calls do nothing) and send subscribers a last `end` event."""
        with self._lock:
            if not run.running:
                return
            run.status, run.result, run.error, run.ended_at = status, result, error, time.time()
            if result is not None and result.get("trace_id"):
                run.trace_id = run.trace_id or str(result["trace_id"])
            listeners = self._subscribers.pop(run.id, [])
        final = {"type": "end", "status": status}
        for loop, queue in listeners:
            _deliver(loop, queue, final)

    def list(self) -> list[LiveRun]:
        """Newest first."""
        with self._lock:
            return list(reversed(self._runs.values()))

    def get(self, run_id: str) -> LiveRun | None:
        """The run with this id, or None once it has left the board (or never was on it)."""
        with self._lock:
            return self._runs.get(run_id)

    async def follow(self, run_id: str) -> AsyncIterator[dict[str, Any]]:
        """The run's events so far, then each new one as it happens, ending with `{"type": "end"}`."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                return
            past = list(run.events)
            running = run.running
            if running:
                self._subscribers.setdefault(run_id, []).append((loop, queue))
            status = run.status
        try:
            for event in past:
                yield event
            if not running:
                yield {**_END, "status": status}
                return
            while True:
                event = await queue.get()
                yield event
                if event.get("type") == "end":
                    return
        finally:
            with self._lock:
                listeners = self._subscribers.get(run_id, [])
                if (loop, queue) in listeners:
                    listeners.remove((loop, queue))


def _deliver(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[dict[str, Any]], event: dict[str, Any]) -> None:
    try:
        loop.call_soon_threadsafe(queue.put_nowait, event)
    except RuntimeError:  # that browser's loop is gone (shutdown): nobody to tell
        pass


def _reason(exc: BaseException) -> str:
    """Why a run ended in error, in words fit for a page: nativa's own messages, else only the type."""
    from nativa.errors import NativaError

    if isinstance(exc, NativaError):
        return str(exc)
    return type(exc).__name__
