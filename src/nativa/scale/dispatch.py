"""The dispatcher: feeds tasks to a pool of workers, one task in flight per worker, and records each result
exactly once, whichever backend (local processes or Ray actors) runs the workers.

Exactly once in the output, at least once in execution: only the dispatcher writes results, and only for a
task it has not written before; a worker that dies holding a task (killed, out of memory, its node lost)
has that task put back at the head of the queue for the next free worker, and a replacement worker is
started. A task that has killed `max_tries` workers is recorded as an error instead of being tried forever.
Keeping one task per worker (rather than queueing several on each) is what lets the dispatcher know, at
every moment, which tasks a dead worker took with it.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from nativa.errors import WorkerStartError
from nativa.scale.tasks import TaskOutcome
from nativa.scale.worker import WorkerInfo


@dataclass(frozen=True, slots=True)
class Ready:
    """A worker finished starting (its model is loaded), or could not start (`fatal` says why)."""

    worker: int
    info: WorkerInfo | None
    fatal: str | None = None


@dataclass(frozen=True, slots=True)
class Finished:
    """A worker finished a task; `reply` is its result line's JSON."""

    worker: int
    reply: str  # the worker's JSON: {"result": ...} or {"error": ...}


@dataclass(frozen=True, slots=True)
class Died:
    """The worker's process is gone (killed, crashed, its node lost); whatever it held must run again."""

    worker: int
    reason: str


Event = Ready | Finished | Died


class Backend(Protocol):
    """Where workers run. Each worker takes one JSON task at a time; everything it reports comes back
    through `wait` as events."""

    name: str

    def spawn(self) -> int:
        """Start a worker; its `Ready` (or `Died`) arrives through `wait`. Returns its number."""
        ...

    def submit(self, worker: int, payload: str) -> None:
        """Hand a ready worker one task (JSON); its `Finished` (or `Died`) arrives through `wait`. A worker
        that has just died is not an error here: `wait` reports it."""
        ...

    def wait(self, timeout_s: float) -> list[Event]:
        """Every event since the last call, waiting up to `timeout_s` for the first: the dispatcher's only
        view of its workers."""
        ...

    def close(self) -> None:
        """Stop every worker (each closes its sandboxes and flushes its traces when it can)."""
        ...


@dataclass(slots=True)
class Job:
    """One task on its way to a worker, with its attempt count so a task whose worker died can be retried."""

    id: str
    kind: str
    payload: str
    session: str | None = None
    tries: int = 0
    started: float = 0.0


@dataclass(slots=True)
class DispatchStats:
    """What happened to the workers: how many started, died and were replaced, and how long start-up took."""

    backend: str
    workers: int
    started_workers: int = 0
    deaths: int = 0
    retried: int = 0
    first_ready_s: float | None = None
    wall_s: float = 0.0
    worker_names: list[str] = field(default_factory=list)


StartFn = Callable[[Job, WorkerInfo], None]


def dispatch(backend: Backend, jobs: list[Job], *, workers: int, on_done: Callable[[TaskOutcome], None],
             on_start: StartFn | None = None, max_tries: int = 3) -> DispatchStats:
    """Run every job on `workers` workers of `backend`; `on_done` receives each outcome once, as it comes."""
    t0 = time.perf_counter()
    stats = DispatchStats(backend=backend.name, workers=workers)
    queue: deque[Job] = deque(jobs)
    if not queue:
        return stats
    idle: deque[int] = deque()
    starting: set[int] = set()
    running: dict[int, Job] = {}
    infos: dict[int, WorkerInfo] = {}
    written: set[str] = set()
    start_failures = 0

    def spawn() -> None:
        starting.add(backend.spawn())
        stats.started_workers += 1

    def finish(job: Job, worker: str, result: dict[str, Any] | None, error: str | None) -> None:
        if job.id in written:  # a late duplicate can only follow a retry; the first result stands
            return
        written.add(job.id)
        on_done(TaskOutcome(id=job.id, kind=job.kind, worker=worker, result=result, error=error,
                            session=job.session, tries=job.tries, wall_s=time.perf_counter() - job.started))

    try:
        for _ in range(min(workers, len(queue))):
            spawn()
        while queue or running:
            while idle and queue:
                worker, job = idle.popleft(), queue.popleft()
                job.tries += 1
                job.started = time.perf_counter()
                running[worker] = job
                backend.submit(worker, job.payload)
                if on_start is not None:
                    on_start(job, infos[worker])
            for event in backend.wait(1.0):
                if isinstance(event, Ready):
                    starting.discard(event.worker)
                    if event.info is None:
                        raise WorkerStartError(f"a {backend.name} worker could not start: {event.fatal}")
                    infos[event.worker] = event.info
                    stats.worker_names.append(event.info.name)
                    if stats.first_ready_s is None:
                        stats.first_ready_s = time.perf_counter() - t0
                    idle.append(event.worker)
                elif isinstance(event, Finished):
                    job = running.pop(event.worker)
                    reply = json.loads(event.reply)
                    finish(job, infos[event.worker].name, reply.get("result"), reply.get("error"))
                    idle.append(event.worker)
                else:
                    stats.deaths += 1
                    if event.worker in starting:
                        starting.discard(event.worker)
                        start_failures += 1
                        if start_failures > workers + 2:
                            raise WorkerStartError(f"{start_failures} {backend.name} workers died while "
                                                   f"starting; the last: {event.reason}")
                    held = running.pop(event.worker, None)
                    if event.worker in idle:
                        idle.remove(event.worker)
                    if held is not None:
                        if held.tries >= max_tries:
                            finish(held, infos[event.worker].name, None,
                                   f"WorkerDied: {held.tries} workers died running this task "
                                   f"(the last: {event.reason})")
                        else:
                            stats.retried += 1
                            queue.appendleft(held)
                    if queue and len(idle) + len(running) + len(starting) < workers:
                        spawn()
    finally:
        stats.wall_s = time.perf_counter() - t0
        backend.close()
    return stats
