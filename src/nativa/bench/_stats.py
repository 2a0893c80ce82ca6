"""Small statistics shared by the benches (medians; percentiles are `nativa.tracing.stats`'s one definition)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

from nativa.tracing.stats import percentile

__all__ = ["median", "percentile", "ratio", "timed"]


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
