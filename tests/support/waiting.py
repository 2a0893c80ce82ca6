"""Bounded waiting for a condition that another thread or process makes true (never a timing assertion)."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(predicate: Callable[[], bool], timeout_s: float = 10.0, poll_s: float = 0.01) -> bool:
    """True as soon as `predicate()` is; False if it still is not after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll_s)
    return False
