"""Batch workers as Ray actors: each actor holds its own loaded model and sandbox, on whichever node Ray
places it, and takes one JSON task at a time from the dispatcher.

Ray is the optional extra `nativa[ray]`; nothing here imports it until a backend is built, and a missing
Ray is one clear line naming the install command. The dispatcher, not Ray, retries a dead actor's task
(actors are created with `max_restarts=0`): a retry goes to whichever worker is free next, and the
dispatcher's own bookkeeping is what keeps each id once in the output.
"""

from __future__ import annotations

import json
from typing import Any

from nativa.errors import BadInputError, RayMissingError
from nativa.scale.dispatch import Died, Event, Finished, Ready
from nativa.scale.worker import ModelFactory, TaskRunner, WorkerInfo, WorkerSpec

INSTALL_HINT = "pip install 'nativa[ray]'"


def require_ray() -> Any:
    """The `ray` module, or `RayMissingError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise RayMissingError(f"--ray needs Ray, which is not installed here; install it with: {INSTALL_HINT}") \
            from None
    return ray


def connect(address: str | None) -> Any:
    """Join the cluster at `address` (`auto`, `HOST:PORT`, `ray://HOST:10001`), or with none Ray's default:
    the cluster named by RAY_ADDRESS, else a new local one (Ray's token authentication on, as Ray 2.60
    starts it). Already connected: kept."""
    ray = require_ray()
    if ray.is_initialized():
        return ray
    try:
        try:
            # A Ray that nativa starts runs its workers at normal priority: Ray's default (niceness 15)
            # makes the model and the Serve proxy yield to every other process, which on a shared machine
            # cost a fifth of the batch throughput and ~15 ms per request at the proxy (docs/benchmarks.md).
            ray.init(address=address or None, include_dashboard=False, log_to_driver=False,
                     _system_config={"worker_niceness": 0})
        except ValueError as exc:  # joining a running cluster: its own settings apply
            if "system_config" not in str(exc):
                raise
            ray.init(address=address or None, include_dashboard=False, log_to_driver=False)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise BadInputError(f"--ray {address or ''}: cannot connect to a Ray cluster: {exc}".replace("  ", " ")) \
            from None
    return ray


class RayWorker:
    """The actor: builds its `TaskRunner` in the constructor (the model loads once per actor). A start
    failure is kept and reported by `describe`, so the dispatcher can tell it from a killed actor."""

    def __init__(self, spec_json: str, name: str, model_factory: ModelFactory | None = None) -> None:
        self.runner: TaskRunner | None = None
        self.fatal: str | None = None
        try:
            self.runner = TaskRunner(WorkerSpec.model_validate_json(spec_json), name, model_factory)
        except Exception as exc:  # noqa: BLE001 - reported through describe(), which stops the batch
            self.fatal = f"{type(exc).__name__}: {exc}"

    def describe(self) -> str:
        """The actor's first answer, as JSON: `{"ready": info}`, or `{"fatal": why}` when its start failed."""
        if self.runner is None:
            return json.dumps({"fatal": self.fatal})
        return json.dumps({"ready": self.runner.info.to_dict()})

    def run(self, payload: str) -> str:
        """One task in, one result line out (see `TaskRunner.run`); a failing task never kills the actor."""
        assert self.runner is not None
        return self.runner.run(payload)

    def close(self) -> None:
        """Close the runner's sandbox and flush its traces before the actor is killed."""
        if self.runner is not None:
            self.runner.close()


class RayBackend:
    """Workers as Ray actors (`nativa batch --ray`), `cpus_per_worker` CPUs reserved for each."""

    name = "ray"

    def __init__(self, spec: WorkerSpec, *, address: str | None = None, cpus_per_worker: float = 1.0,
                 model_factory: ModelFactory | None = None) -> None:
        self.ray = connect(address)
        self.spec = spec
        self.model_factory = model_factory
        self._actor = self.ray.remote(RayWorker).options(num_cpus=cpus_per_worker, max_restarts=0,
                                                         max_task_retries=0)
        self._actors: dict[int, Any] = {}
        self._pending: dict[Any, tuple[int, str]] = {}  # object ref -> (worker, "ready" | "task")
        self._next = 0

    def spawn(self) -> int:
        """Start an actor; its `describe` answer arrives through `wait` as its `Ready`."""
        number = self._next
        self._next += 1
        actor = self._actor.remote(self.spec.model_dump_json(), f"ray-{number}", self.model_factory)
        self._actors[number] = actor
        self._pending[actor.describe.remote()] = (number, "ready")
        return number

    def submit(self, worker: int, payload: str) -> None:
        """Send the actor one task; a lost actor is reported by `wait` as `Died`, not raised here."""
        self._pending[self._actors[worker].run.remote(payload)] = (worker, "task")

    def wait(self, timeout_s: float) -> list[Event]:
        """Every finished call, waiting up to `timeout_s` for the first; a call that raised a Ray error
        (the actor or its node died) becomes `Died` and the actor is dropped."""
        if not self._pending:
            return []
        refs = list(self._pending)
        done, rest = self.ray.wait(refs, num_returns=1, timeout=timeout_s)
        if done and rest:
            more, _ = self.ray.wait(rest, num_returns=len(rest), timeout=0)
            done += more
        events: list[Event] = []
        for ref in done:
            worker, what = self._pending.pop(ref)
            try:
                reply: str = self.ray.get(ref)
            except self.ray.exceptions.RayError as exc:
                events.append(Died(worker, _first_line(exc)))
                self._drop(worker)
                continue
            if what == "task":
                events.append(Finished(worker, reply))
                continue
            data = json.loads(reply)
            if "fatal" in data:
                self._drop(worker)
                events.append(Ready(worker, None, fatal=data["fatal"]))
            else:
                events.append(Ready(worker, WorkerInfo(**data["ready"])))
        return events

    def _drop(self, worker: int) -> None:
        actor = self._actors.pop(worker, None)
        for ref in [r for r, (w, _) in self._pending.items() if w == worker]:
            del self._pending[ref]
        if actor is not None:
            self.ray.kill(actor, no_restart=True)

    def close(self) -> None:
        """Let every actor close (up to 15 s), then kill them all: no actor outlives the batch."""
        closing = [actor.close.remote() for actor in self._actors.values()]
        if closing:
            self.ray.wait(closing, num_returns=len(closing), timeout=15)
        for actor in self._actors.values():
            self.ray.kill(actor, no_restart=True)
        self._actors.clear()
        self._pending.clear()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}"
