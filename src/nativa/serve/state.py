"""What the routes share: the served models and their gates, the worker threads, the sandbox, the metrics,
the bearer-key check and the server-sent-event encoding.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from nativa.config import Settings
from nativa.errors import ModelNotFoundError
from nativa.sandbox.protocol import SandboxLike
from nativa.serve.config import ServeConfig
from nativa.serve.console.board import RunBoard
from nativa.serve.errors import ApiError, as_api_error, error_body, fault_message, report_fault
from nativa.serve.jobs import Emit, JobControl, RunningJob, start_job
from nativa.serve.metrics import ServerMetrics
from nativa.serve.scheduler import BatchAdmission
from nativa.serve.slots import ModelSlot

SandboxFactory = Callable[[], SandboxLike]


@dataclass
class ServerState:
    """Everything one app's routes share (settings, model slots, workers, metrics), kept on `app.state`."""
    settings: Settings
    config: ServeConfig
    slots: dict[str, ModelSlot]
    executor: ThreadPoolExecutor
    metrics: ServerMetrics
    sandbox_factory: SandboxFactory
    controls: set[JobControl] = field(default_factory=set)
    board: RunBoard = field(default_factory=RunBoard)  # runs executing and recent, for the console
    _sandbox: SandboxLike | None = None
    _sandbox_lock: threading.Lock = field(default_factory=threading.Lock)
    _batching: BatchAdmission | None = None

    @property
    def batching(self) -> BatchAdmission:
        """Admission into the models' running batches (created on first use, on the event loop)."""
        if self._batching is None:
            self._batching = BatchAdmission(self.metrics)
        return self._batching

    @property
    def model_names(self) -> list[str]:
        """The names the routes accept as `model`, one per slot."""
        return list(self.slots)

    def slot(self, name: str | None) -> ModelSlot:
        """The served model called `name` (the first served one when None); 404 lists the valid names."""
        chosen = name or next(iter(self.slots))
        slot = self.slots.get(chosen)
        if slot is None:
            raise ModelNotFoundError(f"model '{chosen}' is not served here")
        return slot

    def sandbox(self) -> SandboxLike:
        """One sandbox object for the process, created on first use (probing the host costs a little)."""
        with self._sandbox_lock:
            if self._sandbox is None:
                self._sandbox = self.sandbox_factory()
            return self._sandbox

    async def start(self, slot: ModelSlot, request: Request | None, work: Callable[[JobControl, Emit], Any],
                    route: str, executor: Executor | None = None) -> RunningJob[Any]:
        """Admit `work` through the model's gate and start it (on `executor`, default the shared workers);
        counts refusals and timeouts."""
        try:
            return await start_job(slot.gate, executor or self.executor, work, request=request,
                                   timeout_s=self.config.request_timeout_s, controls=self.controls)
        except Exception as exc:
            mapped = as_api_error(exc)
            if mapped is not None and mapped.status == 429:
                self.metrics.rejected.labels(slot.name).inc()
            elif mapped is not None and mapped.status == 504:
                self.metrics.timeouts.labels(route).inc()
            raise

    def count_outcome(self, exc: BaseException, route: str, job: RunningJob[Any] | None) -> None:
        """Count a failed request in the metrics: a timeout (504) by route, a cancelled job by reason."""
        mapped = as_api_error(exc)
        if mapped is not None and mapped.status == 504:
            self.metrics.timeouts.labels(route).inc()
        if job is not None and job.control.cancelled:
            self.metrics.cancelled.labels(job.control.reason or "cancelled").inc()


def get_state(request: Request) -> ServerState:
    """The ServerState of the app serving `request`."""
    state: ServerState = request.app.state.nativa
    return state


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8")).digest()


def check_key(request: Request) -> None:
    """Bearer key check, in constant time (hashing first hides the key's length too)."""
    key = get_state(request).config.key
    if not key:
        return
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(_digest(given.strip()), _digest(key)):
        raise ApiError(401, "missing or wrong API key; send the header 'Authorization: Bearer <key>'",
                       code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})


def sse(data: Any, event: str | None = None) -> bytes:
    """One server-sent event; `data` is JSON-encoded unless it is already a string."""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


def stream_error(exc: BaseException, models: list[str], where: str) -> dict[str, Any]:
    """The error event sent when a stream fails after its headers went out (the status is already 200)."""
    mapped = as_api_error(exc, models)
    if mapped is None:
        error_id = report_fault(exc, where)
        return error_body(500, fault_message(error_id), error_id=error_id)
    return error_body(mapped.status, mapped.message, param=mapped.param, code=mapped.code)


SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
