"""Small statistics and the results file shared by the benches (medians; percentiles are `nativa.tracing.stats`'s
one definition)."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from nativa.tracing.stats import percentile

__all__ = ["median", "percentile", "ratio", "timed", "write_jsonl"]


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
