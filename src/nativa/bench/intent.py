"""`nativa bench intent`: how often the intent parser routes a request to the right kind, and at what cost.

The task set (`bench/tasks/intent.jsonl`) holds requests labelled sql, http, code, chat or unclear, each in
one of two splits made once by hashing its id within its kind: `calibrate`, on which a cascade's escalation
threshold is chosen, and `test`, on which systems are compared (a threshold is never judged on the requests
it was chosen on). The parser sees the tools `nativa run` gives by default (the sample database, a Python
runner) plus an HTTP tool, so every kind is servable. A request a rule decides costs no model call; the rest
go to the model (or the cascade's stages) under a schema of the servable kinds.

`calibrate` needs no extra model calls: the cascade's decision is a function of the first stage's pick and
probability and the second stage's pick, so each threshold is replayed from one run of each model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from nativa.bench._stats import at_most_per_kind, by_kind, load_bench_model, read_tasks

TASKS_FILE = "intent.jsonl"
Split = Literal["calibrate", "test"]
THRESHOLDS: tuple[float, ...] = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99, 1.0)


class IntentTask(BaseModel):
    """One request and the kind a person would route it to."""

    model_config = ConfigDict(extra="forbid")

    id: str
    kind: Literal["sql", "http", "code", "chat", "unclear"]
    request: str
    split: Split


@dataclass(slots=True)
class IntentResult:
    """One request's routing: the parser's kind against the label, who decided, and what it cost."""

    id: str
    kind: str
    split: str
    model: str
    predicted: str
    correct: bool
    source: str  # rule | model | default
    confidence: float
    probability: float | None = None  # the model's own, from its logprobs; None: unknown (or a rule's)
    stage: str | None = None  # on a cascade: the stage whose pick it is
    escalated: bool = False
    escalation: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    compute: float = 0.0
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON, the form the results file and `--json` keep."""
        return asdict(self)


@dataclass(slots=True)
class IntentSummary:
    """Accuracy overall and per kind, the share the model (not a rule) decided, escalations and cost."""

    model: str
    tasks: int
    correct: int
    accuracy: float
    by_kind: dict[str, tuple[int, int]]
    model_decided: int
    model_accuracy: float  # on the requests no rule decided
    escalated_share: float  # of the requests the model decided
    input_tokens: int
    output_tokens: int
    compute: float
    wall_s: float
    results_file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON, for `--json`."""
        return asdict(self)


@dataclass(slots=True)
class ThresholdRow:
    """What a cascade would do on the calibration split at one threshold, replayed from its stages' runs."""

    threshold: float
    accuracy: float
    escalated_share: float  # of the requests the model decided
    compute: float


@dataclass(slots=True)
class Calibration:
    """The threshold table and the chosen threshold, with the single models' accuracy it is judged against."""

    rows: list[ThresholdRow]
    chosen: float
    small_accuracy: float
    large_accuracy: float
    large_compute: float
    tasks: int
    why: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The calibration as JSON, for `--json`."""
        return asdict(self)


def load_tasks(path: Path | None = None, *, split: str | None = None, limit: int | None = None) -> list[IntentTask]:
    """The task set, one split (`calibrate`, `test`) or all (None), at most `limit` tasks of each kind."""
    tasks = read_tasks(path, TASKS_FILE, IntentTask)
    if split is not None:
        tasks = [t for t in tasks if t.split == split]
    return at_most_per_kind(tasks, limit)


def run_bench(settings: Any, model_name: str, tasks: Sequence[IntentTask], *,
              on_result: Callable[[IntentResult], None] | None = None) -> list[IntentResult]:
    """Route every request with one model (or cascade), through the parser `nativa run` uses."""
    from nativa.data import sample_db_url
    from nativa.intent import IntentContext, IntentParser
    from nativa.models.cost import cost_of, metered
    from nativa.tools import build_tools, close_tools

    model = load_bench_model(model_name, settings)
    tools = build_tools(settings, db=sample_db_url(), allow_hosts=["api.example.com"], python=True)
    results: list[IntentResult] = []
    try:
        context = IntentContext.from_tools(tools)
        parser = IntentParser.from_settings(model, settings)
        for task in tasks:
            started = time.perf_counter()
            with metered() as meter:
                intent = parser.parse(task.request, context)
            total = cost_of(model, meter, settings.model_prices).total
            result = IntentResult(
                id=task.id, kind=task.kind, split=task.split, model=model.name, predicted=intent.kind,
                correct=intent.kind == task.kind, source=intent.source, confidence=intent.confidence,
                probability=intent.probability,
                stage=intent.stage, escalated=intent.escalated, escalation=intent.escalation,
                input_tokens=total.input_tokens, output_tokens=total.output_tokens, compute=total.compute,
                wall_s=time.perf_counter() - started)
            results.append(result)
            if on_result is not None:
                on_result(result)
    finally:
        close_tools(tools)
    return results


def summarise(model: str, results: Sequence[IntentResult], results_file: Path | None = None) -> IntentSummary:
    """The summary of one system's results; `results_file` is where their lines went."""
    decided = [r for r in results if r.source != "rule"]  # the model's: a usable pick or none (default)
    correct = sum(r.correct for r in results)
    return IntentSummary(
        model=model, tasks=len(results), correct=correct, accuracy=correct / len(results) if results else 0.0,
        by_kind=by_kind(results), model_decided=len(decided),
        model_accuracy=sum(r.correct for r in decided) / len(decided) if decided else 0.0,
        escalated_share=sum(r.escalated for r in decided) / len(decided) if decided else 0.0,
        input_tokens=sum(r.input_tokens for r in results), output_tokens=sum(r.output_tokens for r in results),
        compute=sum(r.compute for r in results), wall_s=sum(r.wall_s for r in results),
        results_file=str(results_file) if results_file else None)


def replay(small: Sequence[IntentResult], large: Sequence[IntentResult], threshold: float) -> ThresholdRow:
    """The two-stage cascade at `threshold`, replayed as the parser runs it: a request no rule decided whose
    small-model pick has a known probability under the threshold, or that got no usable answer, takes the
    large model's pick (the small one's when the large gave none), and both costs."""
    by_id = {r.id: r for r in large}
    right = escalated = decided = 0
    compute = 0.0
    for s in small:
        compute += s.compute
        pick = s
        if s.source != "rule":
            decided += 1
            if s.source == "default" or (s.probability is not None and s.probability < threshold):
                other = by_id.get(s.id)
                if other is None:
                    raise ValueError(f"the large model's results have no task {s.id!r}")
                pick = other if other.source != "default" or s.source == "default" else s
                escalated += 1
                compute += other.compute
        right += pick.correct
    n = len(small)
    return ThresholdRow(threshold, right / n if n else 0.0, escalated / decided if decided else 0.0, compute)


def calibrate(small: Sequence[IntentResult], large: Sequence[IntentResult],
              thresholds: Sequence[float] = THRESHOLDS) -> Calibration:
    """Choose the lowest threshold at which the replayed cascade is at least as accurate as the large model
    on the calibration split (lowest: the fewest escalations, so the least compute); when none is, the
    most accurate one (the lowest of those tied)."""
    rows = [replay(small, large, t) for t in thresholds]
    n = len(large)
    large_acc = sum(r.correct for r in large) / n if n else 0.0
    small_acc = sum(r.correct for r in small) / len(small) if small else 0.0
    large_compute = sum(r.compute for r in large)
    reaching = [r for r in rows if r.accuracy >= large_acc]
    if reaching:
        chosen = min(reaching, key=lambda r: r.threshold)
        why = f"the lowest threshold whose cascade accuracy ({chosen.accuracy:.1%}) reaches the large model's"
    else:
        best = max(r.accuracy for r in rows)
        chosen = min((r for r in rows if r.accuracy == best), key=lambda r: r.threshold)
        why = (f"no threshold reaches the large model's accuracy ({large_acc:.1%}); the most accurate one "
               f"({best:.1%})")
    return Calibration(rows=rows, chosen=chosen.threshold, small_accuracy=small_acc, large_accuracy=large_acc,
                       large_compute=large_compute, tasks=n, why=why)
