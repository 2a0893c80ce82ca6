"""OTLP export, configured by the standard `OTEL_EXPORTER_OTLP_*` variables, that a dead endpoint cannot
hurt.

The SDK's exporters already read endpoint, headers, timeout, compression and certificates from the
environment; this module picks the protocol and puts each exporter behind a breaker: a TCP probe before
trusting an endpoint, and after a failed export, dropping batches for a growing cool-down instead of
retrying each one for the full timeout. So the export thread keeps draining its queue, the queue never
fills, shutdown never waits out retries, and the traced code never pays for an endpoint that is down.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Final
from urllib.parse import urlsplit

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from nativa.config import Settings, load_settings
from nativa.errors import ConfigError

PROTOCOLS: Final = ("grpc", "http/protobuf")
_log = logging.getLogger(__name__)


def _otel(settings: Settings | None, name: str) -> str | None:
    """The `OTEL_*` variable `name` as read into the settings (this process's settings when none are given)."""
    return getattr(settings if settings is not None else load_settings(), name.lower()) or None


def otlp_endpoint_configured(settings: Settings | None = None) -> bool:
    """True when the environment names an OTLP endpoint for traces, which turns OTLP export on by itself."""
    return bool(_otel(settings, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or _otel(settings, "OTEL_EXPORTER_OTLP_ENDPOINT"))


def otlp_protocol(signal: str = "TRACES", settings: Settings | None = None) -> str:
    """The OTLP protocol per the spec's variables; http/protobuf when none is set (the spec's default)."""
    settings = settings if settings is not None else load_settings()
    name = f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL"
    raw = _otel(settings, name) or _otel(settings, "OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf"
    protocol = raw.strip().lower()
    if protocol not in PROTOCOLS:
        source = name if _otel(settings, name) else "OTEL_EXPORTER_OTLP_PROTOCOL"
        raise ConfigError(f"{source}={raw!r} is not supported; valid: {', '.join(PROTOCOLS)}")
    return protocol


def otlp_span_exporter(settings: Settings | None = None) -> GuardedSpanExporter:
    """The SDK's OTLP span exporter for the configured protocol, behind a breaker."""
    inner: SpanExporter
    if otlp_protocol("TRACES", settings) == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        inner = GrpcExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

        inner = HttpExporter()
    return GuardedSpanExporter(inner, Breaker(otlp_address("TRACES", settings)))


def otlp_metric_exporter(settings: Settings | None = None) -> GuardedMetricExporter:
    """The SDK's OTLP metric exporter for the configured protocol, behind a breaker."""
    inner: MetricExporter
    if otlp_protocol("METRICS", settings) == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcExporter

        inner = GrpcExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpExporter

        inner = HttpExporter()
    return GuardedMetricExporter(inner, Breaker(otlp_address("METRICS", settings)))


def otlp_metrics_wanted(settings: Settings | None = None) -> bool:
    """Push metrics over OTLP unless `OTEL_METRICS_EXPORTER` says not (trace-only backends: Phoenix)."""
    chosen = (_otel(settings, "OTEL_METRICS_EXPORTER") or "otlp").strip().lower()
    return "otlp" in {part.strip() for part in chosen.split(",")}


def otlp_address(signal: str = "TRACES", settings: Settings | None = None) -> tuple[str, int]:
    """(host, port) the OTLP exporter for `signal` will connect to, resolved like the SDK does."""
    settings = settings if settings is not None else load_settings()
    protocol = otlp_protocol(signal, settings)
    raw = (
        _otel(settings, f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")
        or _otel(settings, "OTEL_EXPORTER_OTLP_ENDPOINT")
        or ("http://localhost:4317" if protocol == "grpc" else "http://localhost:4318")
    )
    parsed = urlsplit(raw if "://" in raw else f"http://{raw}")
    try:
        port = parsed.port
    except ValueError:
        raise ConfigError(
            f"OTLP endpoint {raw!r} has an invalid port; expected e.g. http://localhost:4318"
        ) from None
    if port is None:
        port = 443 if parsed.scheme == "https" else 80
    return (parsed.hostname or "localhost", port)


class Breaker:
    """Decides whether to try a remote export now: fail fast while the endpoint is known to be down.

    Before the first export, and again after each cool-down, it opens a plain TCP connection to the endpoint
    (refused at once when nothing listens, `probe_timeout_s` at worst) instead of letting the exporter spend
    its whole retry budget (10 s by default) on a dead address.
    """

    def __init__(
        self,
        address: tuple[str, int] | None,
        *,
        cooldown_s: float = 2.0,
        max_cooldown_s: float = 120.0,
        probe_timeout_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.address = address
        self._base_cooldown = cooldown_s
        self._cooldown = cooldown_s
        self._max_cooldown = max_cooldown_s
        self._probe_timeout = probe_timeout_s
        self._clock = clock
        self._open_until = 0.0
        self._verified = False
        self._failing = False
        self._lock = threading.Lock()

    def allow(self) -> bool:
        """Whether an export may try now: not while cooling down after a failure, and only once a TCP probe
        finds the endpoint listening (so a dead one costs a short connect, not an exporter's retries)."""
        if self._clock() < self._open_until:
            return False
        if self._verified or self.address is None:
            return True
        try:
            socket.create_connection(self.address, timeout=self._probe_timeout).close()
        except OSError:
            self.record(False)
            return False
        self._verified = True
        return True

    def record(self, ok: bool) -> None:
        """Count an export's outcome: a failure opens the breaker for a cooldown that doubles up to its cap
        (logged once per outage), a success resets it."""
        with self._lock:
            if ok:
                if self._failing:
                    _log.info("nativa tracing: OTLP endpoint answers again; exporting resumed")
                self._failing = False
                self._cooldown = self._base_cooldown
                return
            if not self._failing:
                _log.warning(
                    "nativa tracing: OTLP export to %s failed; telemetry for it is dropped until it answers "
                    "(local traces are unaffected)",
                    f"{self.address[0]}:{self.address[1]}" if self.address else "the endpoint",
                )
            self._failing = True
            self._verified = False
            self._open_until = self._clock() + self._cooldown
            self._cooldown = min(self._cooldown * 2, self._max_cooldown)


class GuardedSpanExporter(SpanExporter):
    """An OTLP span exporter behind a `Breaker`; counts what it exported and dropped."""

    def __init__(self, inner: SpanExporter, breaker: Breaker) -> None:
        self.inner = inner
        self.breaker = breaker
        self._closed = False
        self.exported = 0
        self.dropped = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Export through the inner exporter if the breaker allows, else drop the batch at once; an
        exception from the exporter counts as a failure."""
        if self._closed or not self.breaker.allow():
            self.dropped += len(spans)
            return SpanExportResult.FAILURE
        try:
            result = self.inner.export(spans)
        except Exception as exc:  # noqa: BLE001 - an exporter bug must not kill the export thread
            _log.debug("nativa tracing: OTLP export raised %r", exc)
            result = SpanExportResult.FAILURE
        ok = result is SpanExportResult.SUCCESS
        self.breaker.record(ok)
        if ok:
            self.exported += len(spans)
        else:
            self.dropped += len(spans)
        return result

    def abandon(self) -> None:
        """Stop now: interrupt a retry sleep in progress, make later exports fail fast (used at shutdown)."""
        if not self._closed:
            self._closed = True
            self.inner.shutdown()

    def shutdown(self) -> None:
        """The same as `abandon`: shutdown must not wait on a dead endpoint."""
        self.abandon()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """The inner exporter's flush, within `timeout_millis`."""
        return self.inner.force_flush(timeout_millis)


class GuardedMetricExporter(MetricExporter):
    """An OTLP metric exporter behind a `Breaker`: the last push cannot hang on a dead endpoint."""

    def __init__(self, inner: MetricExporter, breaker: Breaker) -> None:
        super().__init__(
            preferred_temporality=inner._preferred_temporality,
            preferred_aggregation=inner._preferred_aggregation,
        )
        self.inner = inner
        self.breaker = breaker
        self._closed = False

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        """Push the metrics if the breaker allows, else fail at once; an exception counts as a failure."""
        if self._closed or not self.breaker.allow():
            return MetricExportResult.FAILURE
        try:
            result = self.inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        except Exception as exc:  # noqa: BLE001 - as above
            _log.debug("nativa tracing: OTLP metric export raised %r", exc)
            result = MetricExportResult.FAILURE
        self.breaker.record(result is MetricExportResult.SUCCESS)
        return result

    def abandon(self) -> None:
        """Stop now: later pushes fail fast and the inner exporter shuts down without waiting."""
        if not self._closed:
            self._closed = True
            self.inner.shutdown(timeout_millis=0)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        """The inner exporter's flush, within `timeout_millis`."""
        return self.inner.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """The same as `abandon`: shutdown must not wait on a dead endpoint."""
        self.abandon()


class RateLimitFilter(logging.Filter):
    """One record per message template per `interval_s`: a dead endpoint must not flood stderr."""

    def __init__(self, interval_s: float = 60.0) -> None:
        super().__init__()
        self._interval = interval_s
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """Let a record through unless one with the same message template passed within `interval_s`."""
        now = time.monotonic()
        key = str(record.msg)
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            return False
        self._last[key] = now
        return True


_QUIETED = (
    "opentelemetry.sdk._shared_internal",
    "opentelemetry.exporter.otlp.common.http",
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.http",
)
_filter = RateLimitFilter()


def quiet_sdk_logs() -> None:
    """Rate-limit the SDK's per-batch warnings (queue full, transient error, retrying)."""
    for name in _QUIETED:
        logger = logging.getLogger(name)
        if _filter not in logger.filters:
            logger.addFilter(_filter)
