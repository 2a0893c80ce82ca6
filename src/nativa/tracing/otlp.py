"""OTLP export, configured by the standard `OTEL_EXPORTER_OTLP_*` variables, that a dead endpoint cannot hurt.

The SDK's exporters already read endpoint, headers, timeout, compression and certificates from the environment;
this module picks the protocol and wraps each exporter in a breaker: after a failed export it drops batches for
a growing cool-down instead of retrying every batch for the full timeout, so the export thread keeps draining
its queue, the queue never fills, and the traced code never pays for an endpoint that is down.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Final

from opentelemetry.sdk.metrics.export import MetricExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from nativa.errors import ConfigError

PROTOCOLS: Final = ("grpc", "http/protobuf")
_log = logging.getLogger(__name__)


def otlp_endpoint_configured() -> bool:
    """True when the environment names an OTLP endpoint for traces, which turns OTLP export on by itself."""
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def otlp_protocol(signal: str = "TRACES") -> str:
    """The OTLP protocol per the spec's variables; http/protobuf when none is set (the spec's default)."""
    name = f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL"
    raw = os.environ.get(name) or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf"
    protocol = raw.strip().lower()
    if protocol not in PROTOCOLS:
        source = name if os.environ.get(name) else "OTEL_EXPORTER_OTLP_PROTOCOL"
        raise ConfigError(f"{source}={raw!r} is not supported; valid: {', '.join(PROTOCOLS)}")
    return protocol


def otlp_span_exporter() -> SpanExporter:
    if otlp_protocol("TRACES") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter()


def otlp_metric_exporter() -> MetricExporter:
    if otlp_protocol("METRICS") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcExporter

        return GrpcExporter()
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpExporter

    return HttpExporter()


def otlp_metrics_wanted() -> bool:
    """Push metrics over OTLP unless `OTEL_METRICS_EXPORTER` says otherwise (trace-only backends like Phoenix)."""
    chosen = os.environ.get("OTEL_METRICS_EXPORTER", "otlp").strip().lower()
    return "otlp" in {part.strip() for part in chosen.split(",")}


class GuardedSpanExporter(SpanExporter):
    """Circuit breaker around a remote exporter: fail fast while the endpoint is known to be down."""

    def __init__(
        self,
        inner: SpanExporter,
        *,
        cooldown_s: float = 2.0,
        max_cooldown_s: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self._base_cooldown = cooldown_s
        self._cooldown = cooldown_s
        self._max_cooldown = max_cooldown_s
        self._clock = clock
        self._open_until = 0.0
        self._closed = False
        self._failing = False
        self._lock = threading.Lock()
        self.exported = 0
        self.dropped = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._closed or self._clock() < self._open_until:
            self.dropped += len(spans)
            return SpanExportResult.FAILURE
        try:
            result = self.inner.export(spans)
        except Exception as exc:  # an exporter bug must not kill the export thread
            _log.debug("nativa tracing: OTLP export raised %r", exc)
            result = SpanExportResult.FAILURE
        with self._lock:
            if result is SpanExportResult.SUCCESS:
                self.exported += len(spans)
                if self._failing:
                    _log.info("nativa tracing: OTLP endpoint answers again; exporting resumed")
                self._failing = False
                self._cooldown = self._base_cooldown
            else:
                self.dropped += len(spans)
                if not self._failing:
                    _log.warning(
                        "nativa tracing: OTLP export failed; spans are dropped for that endpoint until it answers "
                        "(local traces are unaffected)"
                    )
                self._failing = True
                self._open_until = self._clock() + self._cooldown
                self._cooldown = min(self._cooldown * 2, self._max_cooldown)
        return result

    def abandon(self) -> None:
        """Stop now: interrupts a retry sleep in progress and makes later exports fail fast (used at shutdown)."""
        if not self._closed:
            self._closed = True
            self.inner.shutdown()

    def shutdown(self) -> None:
        self.abandon()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class RateLimitFilter(logging.Filter):
    """Lets one record per message template through per `interval_s`: a dead endpoint must not flood stderr."""

    def __init__(self, interval_s: float = 60.0) -> None:
        super().__init__()
        self._interval = interval_s
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        key = str(record.msg)
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            return False
        self._last[key] = now
        return True


_QUIETED = ("opentelemetry.sdk._shared_internal", "opentelemetry.exporter.otlp.common.http",
            "opentelemetry.exporter.otlp.proto.grpc.exporter", "opentelemetry.exporter.otlp.proto.http")
_filter = RateLimitFilter()


def quiet_sdk_logs() -> None:
    """Rate-limit the SDK's per-batch warnings (queue full, transient error, retrying)."""
    for name in _QUIETED:
        logger = logging.getLogger(name)
        if _filter not in logger.filters:
            logger.addFilter(_filter)
