"""What a run cost, per stage of the model chain: tokens, model seconds, compute and money.

Every model call goes through `nativa.models.traced` (the one call path); while a `CostMeter` is open (each
agent run opens one), those calls add their usage to it, so the cost is measured where the trace is and
the two cannot disagree. Compute is tokens x parameter count for a local model, the figure that compares a
0.5B and a 1.5B model on one host; money is for remote models, from the price table in the settings
(`model_prices`), and 0 where the table has no row.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from nativa.models.base import ChatModel, Completion


@dataclass(slots=True)
class StageCost:
    """One stage of the chain (or the total): what it consumed; zeros for a stage that never ran."""

    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    model_s: float = 0.0
    compute: float = 0.0  # (input + output tokens) x parameters, local models
    price: float = 0.0  # money, remote models with a row in the price table

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StageCost:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(slots=True)
class Cost:
    """Per stage and in total, so a reader compares systems without arithmetic."""

    stages: list[StageCost] = field(default_factory=list)

    @property
    def total(self) -> StageCost:
        return StageCost(model="total", input_tokens=sum(s.input_tokens for s in self.stages),
                         output_tokens=sum(s.output_tokens for s in self.stages),
                         model_s=sum(s.model_s for s in self.stages), compute=sum(s.compute for s in self.stages),
                         price=sum(s.price for s in self.stages))

    def to_dict(self) -> dict[str, Any]:
        """`{stages: [{model, input_tokens, output_tokens, model_s, compute, price}], total: {...}}`."""
        return {"stages": [s.to_dict() for s in self.stages], "total": self.total.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Cost | None:
        if not data:
            return None
        return cls([StageCost.from_dict(s) for s in data.get("stages") or []])

    def __add__(self, other: Cost) -> Cost:
        """Stage by stage (by model name), for results that add up several runs (a paused and resumed one)."""
        merged = {s.model: StageCost.from_dict(s.to_dict()) for s in self.stages}
        for s in other.stages:
            m = merged.setdefault(s.model, StageCost(s.model))
            m.input_tokens += s.input_tokens
            m.output_tokens += s.output_tokens
            m.model_s += s.model_s
            m.compute += s.compute
            m.price += s.price
        return Cost(list(merged.values()))


@dataclass(slots=True)
class Usage:
    """What one model consumed while a meter was open."""

    input_tokens: int = 0
    output_tokens: int = 0
    model_s: float = 0.0
    calls: int = 0


class CostMeter:
    """Usage per model name of every traced call made while it is open (thread-safe: candidates may be
    drawn from several threads)."""

    def __init__(self) -> None:
        self.usage: dict[str, Usage] = {}
        self._lock = threading.Lock()

    def add(self, model: str, completions: Sequence[Completion], seconds: float) -> None:
        with self._lock:
            u = self.usage.setdefault(model, Usage())
            # n samples of one prompt: the prompt is evaluated once (complete_many's contract)
            u.input_tokens += completions[0].input_tokens if completions else 0
            u.output_tokens += sum(c.output_tokens for c in completions)
            u.model_s += seconds
            u.calls += 1

    def of(self, model: str) -> Usage:
        return self.usage.get(model, Usage())


_meters: ContextVar[tuple[CostMeter, ...]] = ContextVar("nativa_cost_meters", default=())


@contextmanager
def metered() -> Iterator[CostMeter]:
    """Count every traced model call in this block (nested meters all count it)."""
    meter = CostMeter()
    token = _meters.set((*_meters.get(), meter))
    try:
        yield meter
    finally:
        _meters.reset(token)


def record(model: ChatModel, completions: Sequence[Completion], seconds: float) -> None:
    """Called by the traced call path after each call; a no-op when no meter is open."""
    for meter in _meters.get():
        meter.add(model.name, completions, seconds)


Prices = Mapping[str, Mapping[str, float]]  # model -> {"input": per 1M tokens, "output": per 1M tokens}


def parameters_of(model: ChatModel | None) -> int:
    """A local model's parameter count (0 when unknown, and for remote models, whose compute is not ours)."""
    if model is None or model.remote:
        return 0
    spec = getattr(model, "spec", None)
    count = getattr(spec, "parameters", 0) if spec is not None else 0
    return int(count or getattr(model, "parameters", 0) or 0)


def stage_cost(label: str, model: ChatModel | None, usage: Usage, prices: Prices | None = None) -> StageCost:
    """The cost of one stage from its usage: zeros when it was never built or never called."""
    if model is None:
        return StageCost(label)
    price = 0.0
    if model.remote and prices:
        row = prices.get(label) or prices.get(model.name) or {}
        price = (usage.input_tokens * float(row.get("input", 0.0))
                 + usage.output_tokens * float(row.get("output", 0.0))) / 1e6
    compute = float((usage.input_tokens + usage.output_tokens) * parameters_of(model))
    return StageCost(label, usage.input_tokens, usage.output_tokens, usage.model_s, compute, price)


def cost_of(model: ChatModel, meter: CostMeter, prices: Prices | None = None) -> Cost:
    """The cost of a run with `model`: one entry per stage of a cascade, or one entry for a single model.

    A cascade called as a plain model (a chat) answers with its first stage: that usage is the first
    stage's."""
    stages = getattr(model, "stage_models", None)
    if not callable(stages):
        return Cost([stage_cost(model.name, model, meter.of(model.name), prices)])
    out = []
    for i, (label, built) in enumerate(stages()):
        usage = meter.of(built.name) if built is not None else Usage()
        if i == 0:
            own = meter.of(model.name)
            usage = Usage(usage.input_tokens + own.input_tokens, usage.output_tokens + own.output_tokens,
                          usage.model_s + own.model_s, usage.calls + own.calls)
        out.append(stage_cost(label, built, usage, prices))
    return Cost(out)
