"""Small statistics and the results file shared by the benches (medians; percentiles are `nativa.tracing.stats`'s
one definition)."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, fields
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from nativa.tracing.stats import percentile

T = TypeVar("T", bound=BaseModel)
R = TypeVar("R")


class _Kinded(Protocol):
    @property
    def kind(self) -> str: ...


K = TypeVar("K", bound=_Kinded)

__all__ = ["at_most_per_kind", "by_kind", "load_bench_model", "median", "percentile", "ratio", "read_results", "read_tasks",
           "timed", "write_jsonl"]


def median(values: Sequence[float]) -> float:
    """The median, or NaN for no values, so an empty series shows as missing, not as 0."""
    return statistics.median(values) if values else float("nan")


def ratio(a: float, b: float) -> float:
    """a / b, or NaN when b is 0, so a missing baseline shows as missing, not as infinity."""
    return a / b if b else float("nan")


def timed(fn: Callable[[], object]) -> float:
    """Seconds `fn()` took (perf_counter)."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def write_jsonl(path: Path, results: Iterable[Any]) -> None:
    """Append results (dataclasses) as JSON lines, flushed one by one, so an interrupted run keeps what it
    finished."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        for r in results:
            f.write(json.dumps(asdict(r), ensure_ascii=False) + "\n")
            f.flush()


def read_results(path: Path, row: type[R], key: Callable[[R], tuple[str, str]]) -> dict[tuple[str, str], R]:
    """The results an earlier run of the same command already wrote, by `key` (system, task id), so that a run
    stopped halfway resumes where it stopped. A torn last line (the run killed mid-write) is dropped, not fatal;
    any other line that is not a `row` is a `BadInputError` naming the file and line."""
    from nativa.errors import BadInputError

    done: dict[tuple[str, str], R] = {}
    if not path.exists():
        return done
    names = {f.name for f in fields(row)}  # type: ignore[arg-type]
    lines = path.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            result = row(**{k: v for k, v in data.items() if k in names})
        except (TypeError, ValueError, AttributeError) as e:  # JSON, missing fields, pydantic validation
            if n == len(lines):
                continue
            raise BadInputError(f"{path}:{n} is not a result this bench wrote: {e}") from None
        done[key(result)] = result
    return done


def by_kind(results: Iterable[Any]) -> dict[str, tuple[int, int]]:
    """(right, total) per task kind, from results with `kind` and `correct`."""
    tally: dict[str, tuple[int, int]] = {}
    for r in results:
        right, total = tally.get(r.kind, (0, 0))
        tally[r.kind] = (right + r.correct, total + 1)
    return tally


def load_bench_model(name: str, settings: Any) -> Any:
    """The model a bench measures, loaded before the first task so its load time is not charged to it (a
    cascade loads its first stage; later ones load when first escalated to)."""
    from nativa.models import resolve_model
    from nativa.models.cascade import CascadeModel
    from nativa.models.local import LocalModel

    model = resolve_model(name, settings)
    if isinstance(model, LocalModel | CascadeModel):
        model.load()
    return model


def read_tasks(path: Path | None, shipped: str, task: type[T]) -> list[T]:
    """A bench's task set, one JSON object a line, validated: `path`, or the file `shipped` under
    `nativa/bench/tasks`."""
    text = path.read_text(encoding="utf-8") if path else \
        resources.files("nativa.bench").joinpath("tasks", shipped).read_text(encoding="utf-8")
    return [task.model_validate_json(line) for line in text.splitlines() if line.strip()]


def at_most_per_kind(tasks: Sequence[K], limit: int | None) -> list[K]:
    """The first `limit` tasks of each kind, in order (all of them when `limit` is None), so a short run still
    covers every kind."""
    if limit is None:
        return list(tasks)
    seen: dict[str, int] = {}
    kept = []
    for t in tasks:
        seen[t.kind] = seen.get(t.kind, 0) + 1
        if seen[t.kind] <= limit:
            kept.append(t)
    return kept
