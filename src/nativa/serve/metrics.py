"""Server metrics in Prometheus form: requests, latency, queue, rejections, timeouts, cold starts.

Each app has its own registry (tests build many apps in one process, and the global registry would reject
the second set of names). `/metrics` serves this registry followed by tracing's metrics (model latency,
tokens, agent and sandbox durations), which are derived from spans and so agree with the traces.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from nativa import tracing

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class ServerMetrics:
    """This app's own Prometheus registry and metrics; one per app, so many apps can share a process."""
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        r = self.registry
        self.requests = Counter("nativa_http_requests", "HTTP requests by route, method and status.",
                                ["route", "method", "status"], registry=r)
        self.latency = Histogram("nativa_http_request_duration_seconds", "HTTP request wall time, by route.",
                                 ["route"], buckets=_LATENCY_BUCKETS, registry=r)
        self.rejected = Counter("nativa_queue_rejected", "Requests refused with 429 because the queue was full.",
                                ["model"], registry=r)
        self.timeouts = Counter("nativa_request_timeouts", "Requests that passed their timeout (504).",
                                ["route"], registry=r)
        self.cancelled = Counter("nativa_jobs_cancelled", "Model jobs stopped early, by reason.",
                                 ["reason"], registry=r)
        self.faults = Counter("nativa_http_internal_errors", "Requests that failed with 500 (see error ids).",
                              ["route"], registry=r)
        self.load_seconds = Gauge("nativa_model_load_seconds", "How long the model's cold load took.",
                                  ["model"], registry=r)
        self.loads = Counter("nativa_model_loads", "Model loads (1 per model per process when all is well).",
                             ["model"], registry=r)
        self.loaded = Gauge("nativa_model_loaded", "1 when the model is loaded in this process.", ["model"],
                            registry=r)
        self._running = Gauge("nativa_queue_running", "Model jobs holding a slot.", ["model"], registry=r)
        self._waiting = Gauge("nativa_queue_waiting", "Requests waiting for a slot.", ["model"], registry=r)
        self._batch = Gauge("nativa_batch_sequences", "Sequences in the model's running batch (all callers).",
                            ["model"], registry=r)

    def watch_queue(self, model: str, running: Callable[[], float], waiting: Callable[[], float]) -> None:
        """Report the gate's running and waiting counts for `model` (read at scrape time); not yet loaded."""
        self._running.labels(model).set_function(running)
        self._waiting.labels(model).set_function(waiting)
        self.loaded.labels(model).set(0)

    def watch_batch(self, model: str, sequences: Callable[[], float]) -> None:
        """Report how many sequences the model's batch is running (read at scrape time)."""
        self._batch.labels(model).set_function(sequences)

    def model_loaded(self, model: str, seconds: float) -> None:
        """Record a finished cold load: its seconds, one more load, and the model as loaded."""
        self.load_seconds.labels(model).set(seconds)
        self.loads.labels(model).inc()
        self.loaded.labels(model).set(1)

    def render(self) -> bytes:
        """The `/metrics` body: this registry, then tracing's span-derived metrics."""
        own = generate_latest(self.registry)
        return own + tracing.prometheus_text().encode()
