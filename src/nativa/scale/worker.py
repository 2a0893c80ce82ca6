"""What one batch worker is, wherever it runs (a local process or a Ray actor): a loaded model, a sandbox
and the agents, built once from a JSON-able `WorkerSpec`, then fed tasks as JSON text, one at a time.

Tasks and results cross the process boundary as JSON strings, never as pickled objects: a worker on another
machine gets the same bytes a local one does, and the spec is the whole contract (its `settings` are
overrides; each worker reads the rest of its `Settings`, such as `NATIVA_HOME`, on its own machine).
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from nativa.config import Settings, load_settings
from nativa.errors import NativaError
from nativa.models.base import ChatModel

if TYPE_CHECKING:
    from nativa.sandbox.protocol import SandboxLike

ModelFactory = Callable[[], ChatModel]  # the Python API's way to give workers a model (tests: ScriptedModel)
JobHandler = Callable[["TaskRunner", dict[str, Any]], dict[str, Any]]
_KINDS: dict[str, JobHandler] = {}


def job_kind(name: str) -> Callable[[JobHandler], JobHandler]:
    """Register a task kind a layer above defines (a benchmark's unit of work), so workers run it without
    this package importing that layer; the module is named in `WorkerSpec.plugins`."""
    def register(handler: JobHandler) -> JobHandler:
        _KINDS[name] = handler
        return handler
    return register


class WorkerSpec(BaseModel):
    """How every worker builds itself: the model, settings overrides, and the agents' limits."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str | None = Field(None, description="Model name (default: the settings' model).")
    settings: dict[str, Any] = Field(default_factory=dict, description="Settings overrides, e.g. n_threads.")
    max_attempts: int = Field(3, ge=1, le=20)
    candidates: int = Field(4, ge=1, le=16, description="Candidates each later attempt of the code agent draws.")
    timeout_s: float = Field(10.0, gt=0)
    max_steps: int = Field(6, ge=1, le=20)
    db: str | None = Field(None, description="Database for 'run' tasks (default: the shipped sample).")
    pool_size: int = Field(1, ge=0, le=8, description="Pre-started sandbox interpreters per worker.")
    plugins: tuple[str, ...] = Field((), description="Modules each worker imports before its first task, so "
                                     "the task kinds they register with `job_kind` run there too "
                                     "(e.g. nativa.bench.humaneval).")


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """Who a worker is, for result lines and for killing its process in a test: name, host, pid."""

    name: str
    host: str
    pid: int
    model: str
    load_s: float

    def to_dict(self) -> dict[str, Any]:
        """The JSON a worker process announces itself with when ready (`WorkerInfo(**data)` reads it back)."""
        return asdict(self)


class TaskRunner:
    """A worker's state: the model is loaded in the constructor (once per worker), the sandbox and the tool
    set when the first task needs them."""

    def __init__(self, spec: WorkerSpec, name: str, model_factory: ModelFactory | None = None) -> None:
        from nativa import tracing

        self.spec = spec
        for module in spec.plugins:
            importlib.import_module(module)
        self.settings: Settings = load_settings(**spec.settings)
        tracing.setup(self.settings)
        start = time.perf_counter()
        self.model = model_factory() if model_factory is not None else _load_model(spec.model, self.settings)
        self.info = WorkerInfo(name=f"{name}@{socket.gethostname()}:{os.getpid()}", host=socket.gethostname(),
                               pid=os.getpid(), model=self.model.name, load_s=time.perf_counter() - start)
        self._sandbox: SandboxLike | None = None
        self._tools: list[Any] | None = None
        self._lock = threading.Lock()  # one task at a time per worker: it owns one model

    def run(self, payload: str) -> str:
        """One task as JSON in, `{"result": ...}` or `{"error": ...}` as JSON out; a failing task never takes
        the worker down with it."""
        with self._lock:
            try:
                data = json.loads(payload)
                return json.dumps({"result": self._dispatch(data)})
            except NativaError as exc:
                return json.dumps({"error": f"{type(exc).__name__}: {exc}"})
            except Exception as exc:  # noqa: BLE001 - reported on the task's result line, the batch goes on
                return json.dumps({"error": f"{type(exc).__name__}: {exc}"})

    def _dispatch(self, data: dict[str, Any]) -> dict[str, Any]:
        kind = data.get("kind")
        if kind == "noop":
            return {}
        if kind == "code":
            return self.agent(self.spec.max_attempts).solve(data["task"], data.get("tests")).to_dict()
        if kind == "run":
            return self._run_tools(data["task"])
        if isinstance(kind, str) and kind in _KINDS:
            return _KINDS[kind](self, data)
        raise NativaError(f"unknown task kind {kind!r}")

    @property
    def sandbox(self) -> SandboxLike:
        """The worker's sandbox, started on first use: a batch whose tasks need none never pays for it."""
        if self._sandbox is None:
            from nativa.sandbox import Sandbox

            self._sandbox = Sandbox(allow_weak=self.settings.sandbox_allow_weak, pool_size=self.spec.pool_size)
        return self._sandbox

    def agent(self, attempts: int, temperature: float | None = None) -> Any:
        """A code agent on this worker's model and sandbox, for `attempts` attempts."""
        from nativa.agent import CodeAgent

        cfg = self.settings
        return CodeAgent(self.model, self.sandbox, max_attempts=attempts, candidates=self.spec.candidates,
                         max_tokens=cfg.max_tokens,
                         temperature=cfg.temperature if temperature is None else temperature,
                         timeout_s=self.spec.timeout_s, settings=cfg)

    def _run_tools(self, question: str) -> dict[str, Any]:
        from nativa.agent.tool_agent import ToolAgent
        from nativa.intent import IntentParser

        if self._tools is None:
            from nativa.data import sample_db_url
            from nativa.tools import build_tools

            self._tools = build_tools(self.settings, db=self.spec.db or sample_db_url(), python=True)
        agent = ToolAgent(self.model, self._tools, max_steps=self.spec.max_steps, settings=self.settings,
                          intent_parser=IntentParser.from_settings(self.model, self.settings))
        return agent.run(question).to_dict()

    def close(self) -> None:
        """Stop what this worker started: pre-started sandboxes and the tools' connections."""
        from nativa import tracing

        if self._tools is not None:
            from nativa.tools import close_tools

            close_tools(self._tools)
        if self._sandbox is not None:
            self._sandbox.close()
        tracing.force_flush(5.0)


def _load_model(name: str | None, settings: Settings) -> ChatModel:
    from nativa.models import resolve_model
    from nativa.models.local import LocalModel

    model = resolve_model(name or settings.model, settings)
    if isinstance(model, LocalModel):
        model.load()
    return model
