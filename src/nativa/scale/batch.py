"""`nativa batch` as a Python API: tasks from a JSONL file, results appended as they complete, on local
processes or Ray actors behind the same `Backend` interface.

    from nativa.scale import LocalBackend, ResultLog, WorkerSpec, read_tasks, run_batch
    report = run_batch(read_tasks(path), ResultLog(out), LocalBackend(WorkerSpec()), workers=2)

Re-running with the same output resumes: ids already there are skipped before any worker starts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from nativa.errors import BadInputError
from nativa.scale.dispatch import Backend, DispatchStats, Job, StartFn, dispatch
from nativa.scale.tasks import BadLine, BatchTask, ResultLog, TaskFile, TaskOutcome
from nativa.scale.worker import ModelFactory, WorkerSpec


@dataclass(slots=True)
class BatchReport:
    """What a batch did: counts, the lines it skipped, and its throughput (tasks run per minute of wall
    time, worker start-up included; `steady_per_minute` counts from the first ready worker)."""

    tasks: int
    skipped: int
    done: int = 0
    failed: int = 0
    bad_lines: list[BadLine] = field(default_factory=list)
    stats: DispatchStats | None = None

    @property
    def tasks_per_minute(self) -> float:
        """Finished tasks per minute of the batch's whole wall time, worker start-up included (0 before any
        time has passed)."""
        wall = self.stats.wall_s if self.stats else 0.0
        return 60.0 * self.done / wall if wall else 0.0

    @property
    def steady_per_minute(self) -> float:
        """Finished tasks per minute from the first ready worker on: the throughput once model loading is
        paid for (0 when no worker became ready)."""
        if not self.stats or self.stats.first_ready_s is None:
            return 0.0
        wall = self.stats.wall_s - self.stats.first_ready_s
        return 60.0 * self.done / wall if wall > 0 else 0.0


def _payload(task: BatchTask) -> str:
    return json.dumps({"kind": task.kind, "task": task.task, "tests": task.tests})


def run_batch(found: TaskFile, log: ResultLog, backend: Backend, *, workers: int,
              on_done: Callable[[TaskOutcome], None] | None = None, on_start: StartFn | None = None,
              max_tries: int = 3) -> BatchReport:
    """Run the tasks not yet in `log` on `workers` workers; each outcome is written before `on_done` sees it."""
    if workers < 1:
        raise BadInputError(f"--workers must be at least 1, got {workers}")
    finished = log.finished_ids()
    todo = [t for t in found.tasks if t.id not in finished]
    report = BatchReport(tasks=len(found.tasks), skipped=len(found.tasks) - len(todo), bad_lines=found.bad)

    def done(outcome: TaskOutcome) -> None:
        log.write(outcome)
        report.done += 1
        report.failed += 0 if outcome.ok else 1
        if on_done is not None:
            on_done(outcome)

    jobs = [Job(id=t.id, kind=t.kind, payload=_payload(t), session=t.session) for t in todo]
    try:
        report.stats = dispatch(backend, jobs, workers=workers, on_done=done, on_start=on_start,
                                max_tries=max_tries)
    finally:
        log.close()
    return report


def make_backend(spec: WorkerSpec, *, ray_address: str | None, use_ray: bool, workers: int,
                 cpus_per_worker: float | None = None, model_factory: ModelFactory | None = None) -> Backend:
    """Local processes, or Ray actors at `ray_address`; each local model gets this machine's cores shared
    out between the workers unless the spec says otherwise."""
    if use_ray:
        from nativa.scale.ray_backend import RayBackend

        cpus = cpus_per_worker or 1.0
        if "n_threads" not in spec.settings:
            spec = spec.model_copy(update={"settings": spec.settings | {"n_threads": max(1, int(cpus))}})
        return RayBackend(spec, address=ray_address, cpus_per_worker=cpus, model_factory=model_factory)
    from nativa.scale.local import LocalBackend

    if "n_threads" not in spec.settings:
        share = max(1, (os.cpu_count() or 1) // workers)
        spec = spec.model_copy(update={"settings": spec.settings | {"n_threads": share}})
    return LocalBackend(spec, model_factory=model_factory)
