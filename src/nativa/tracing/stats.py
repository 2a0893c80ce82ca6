"""The one percentile definition nativa reports with: traces (`nativa traces stats`) and every bench.

Two definitions used to disagree (nearest rank in the benches, interpolation in the trace store), so the
same durations gave two p95s. This is the standard library's: `statistics.quantiles(..., method="inclusive")`,
linear interpolation between order statistics, the same as numpy's default.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float, *, empty: float = float("nan")) -> float:
    """The q-th percentile (q in 0..100) of `values`, in any order; `empty` when there are none."""
    if not values:
        return empty
    if not 0 <= q <= 100:
        raise ValueError(f"q must be between 0 and 100, got {q}")
    if len(values) == 1 or q == 0:
        return min(values)
    if q == 100:
        return max(values)
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    whole = int(q)
    if whole == q:
        value = cuts[whole - 1]
    else:
        low = cuts[whole - 1] if whole >= 1 else min(values)
        high = cuts[whole] if whole < 99 else max(values)
        value = low + (high - low) * (q - whole)
    return min(max(value, min(values)), max(values))  # rounding must not step outside the data
