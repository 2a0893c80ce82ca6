"""One served model: created on first need, loaded once per process, with its own admission gate.

Loading the embedded model costs most of a cold start, so it happens on the first request that needs it
(or at start with `--preload`), exactly once: concurrent first requests block on the same lock and reuse
the one load. The load is a span (`nativa.model.load`) inside the trace of the request that paid for it,
and its duration a metric, so a slow first answer explains itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nativa import tracing
from nativa.errors import (
    ModelNotFoundError,
    ModelUnavailableError,
    NativaError,
)
from nativa.models.base import ChatModel
from nativa.models.cascade import CascadeModel
from nativa.serve.queue import Gate

ModelFactory = Callable[[str], ChatModel]
LoadObserver = Callable[[str, float], None]


@dataclass(frozen=True)
class StageReadiness:
    """One stage of a served cascade: whether it is in memory and how many runs it answered, so an operator
    sees that the large stage stays unloaded until work needs it."""

    name: str
    loaded: bool
    answered: int


@dataclass(frozen=True)
class Readiness:
    """What /readyz says of one served model; `stages` only for a cascade."""

    name: str
    loaded: bool
    loadable: bool
    detail: str | None = None
    load_s: float | None = None
    stages: tuple[StageReadiness, ...] | None = None


class ModelSlot:
    """The model called `name`, its gate, and whether (and how long) it took to load."""

    def __init__(self, name: str, factory: ModelFactory, gate: Gate, on_load: LoadObserver | None = None) -> None:
        self.name = name
        self.gate = gate
        self._factory = factory
        self._on_load = on_load
        self._lock = threading.Lock()
        self._model: ChatModel | None = None
        self._ready = False
        self.load_s: float | None = None
        self.loads = 0

    @property
    def loaded(self) -> bool:
        """Whether the model is loaded; /v1/models and /readyz report it without loading it."""
        return self._ready

    def resolve(self) -> ChatModel:
        """The model object without loading its weights (cheap); raises the factory's error as is."""
        if self._model is not None:
            return self._model
        with self._lock:
            if self._model is None:
                try:
                    self._model = self._factory(self.name)
                except ModelNotFoundError as exc:
                    raise ModelUnavailableError(
                        f"model '{self.name}' is served here but cannot load: {exc}") from None
            return self._model

    def get(self) -> ChatModel:
        """The loaded model; the first caller loads it, concurrent callers wait for that same load."""
        if self._ready:
            assert self._model is not None
            return self._model
        model = self.resolve()
        with self._lock:
            if self._ready:
                return model
            load: Any = getattr(model, "load", None)
            if callable(load):
                with tracing.span("nativa.model.load", {"gen_ai.request.model": self.name,
                                                         "gen_ai.provider.name": model.provider}) as span:
                    started = time.perf_counter()
                    load()
                    self.load_s = time.perf_counter() - started
                    span.set_attribute("nativa.model.load_s", self.load_s)
                    span.set_attribute("nativa.model.cold_start", True)
                self.loads += 1
                if self._on_load is not None:
                    self._on_load(self.name, self.load_s)
            else:
                self.load_s = 0.0
            self._ready = True
            return model

    def readiness(self) -> Readiness:
        """Loaded, or at least loadable (its weights or server are configured); never loads anything."""
        if self._ready:
            return Readiness(self.name, loaded=True, loadable=True, load_s=self.load_s,
                             stages=_stages(self._model))
        try:
            model = self.resolve()
        except NativaError as exc:
            return Readiness(self.name, loaded=False, loadable=False, detail=str(exc))
        return Readiness(self.name, loaded=False, loadable=True, stages=_stages(model))


def _stages(model: ChatModel | None) -> tuple[StageReadiness, ...] | None:
    """A cascade's stages, loaded or not, and how many runs each answered; None for any other model."""
    if not isinstance(model, CascadeModel):
        return None
    in_memory = set(model.loaded_stages())
    return tuple(StageReadiness(name, name in in_memory, model.answered[name]) for name in model.stages)
