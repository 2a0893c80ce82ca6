"""A bounded closed-loop load generator shared by the serving benches: N client threads share a fixed number
of requests, each timed on its own."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

Call = Callable[[httpx.Client], int | None]  # one request: tokens (or 0) on success, None on failure


@dataclass
class Driven:
    """What one load level measured: each request's latency, the failures, tokens served, wall time."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    tokens: int = 0
    wall_s: float = 0.0


def drive(call: Call, clients: int, total: int) -> Driven:
    """`clients` threads share `total` calls; latency per successful call, wall time over them all."""
    found = Driven()
    lock = threading.Lock()
    left = [total]

    def client() -> None:
        with httpx.Client(timeout=600.0) as http:
            while True:
                with lock:
                    if not left[0]:
                        return
                    left[0] -= 1
                began = time.perf_counter()
                used = call(http)
                with lock:
                    if used is None:
                        found.errors += 1
                    else:
                        found.latencies.append(time.perf_counter() - began)
                        found.tokens += used

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    found.wall_s = time.perf_counter() - began
    return found
