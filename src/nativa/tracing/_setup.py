"""Install (once per process) the tracer and meter providers and the exporters a run's spans go to.

Called at the edge (CLI, server), never deep inside library code, which only opens spans. Every exporter
sits behind its own batch processor so export happens on a background thread, and one slow destination (a
dead OTLP endpoint) never holds up another (the local JSONL store). `shutdown` flushes within a bound, for
the same reason.
"""

from __future__ import annotations

import atexit
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from opentelemetry import metrics as otel_metrics
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

from nativa import __version__
from nativa.config import Settings
from nativa.errors import ConfigError
from nativa.tracing import otlp
from nativa.tracing._runtime import RUNTIME, SCOPE
from nativa.tracing.jsonl import DEFAULT_KEEP, DEFAULT_MAX_BYTES, JsonlSpanExporter
from nativa.tracing.metrics import Instruments, SpanMetricsExporter, collect_prometheus

EXPORTER_NAMES = ("jsonl", "console", "otlp", "none")
ExporterSpec = str | SpanExporter


@dataclass
class TracingState:
    """What `setup` installed, so `shutdown` can flush it and tests can look at it."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    metric_reader: InMemoryMetricReader
    metrics_processor: BatchSpanProcessor
    exporters: list[SpanExporter]
    traces_dir: Path
    settings: Settings
    guards: list[otlp.GuardedSpanExporter] = field(default_factory=list)
    metric_guards: list[otlp.GuardedMetricExporter] = field(default_factory=list)
    owns_global: bool = False


_state: TracingState | None = None
_lock = threading.Lock()
_atexit_registered = False
_global_is_ours = False  # set_tracer_provider works once per process; remember we took it


def traces_dir(settings: Settings) -> Path:
    """Where the local JSONL store lives: `<data_dir>/traces`."""
    return settings.data_dir / "traces"


def _setting(settings: Settings, name: str) -> str | None:
    """A tracing option from the settings (`NATIVA_<NAME>` or nativa.toml, read at the edge)."""
    value = getattr(settings, name)
    return None if value is None else str(value)


def _int_setting(settings: Settings, name: str, default: int) -> int:
    raw = _setting(settings, name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"NATIVA_{name.upper()}={raw!r} is not an integer") from None


def exporter_names(settings: Settings) -> list[str]:
    """Exporters named by `trace_exporters` / NATIVA_TRACE_EXPORTERS (default jsonl), plus otlp
    when an OTLP endpoint variable is set."""
    raw = _setting(settings, "trace_exporters") or "jsonl"
    names = [part.strip().lower() for part in raw.split(",") if part.strip()]
    for name in names:
        if name not in EXPORTER_NAMES:
            raise ConfigError(
                f"NATIVA_TRACE_EXPORTERS: unknown exporter {name!r}; valid: {', '.join(EXPORTER_NAMES)} "
                "(comma-separated, e.g. 'jsonl,otlp')"
            )
    if "otlp" not in names and "none" not in names and otlp.otlp_endpoint_configured(settings):
        names.append("otlp")
    return [n for n in names if n != "none"]


def _console_line(span: ReadableSpan) -> str:
    ctx = span.context
    duration_ms = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
    trace_id = format(ctx.trace_id, "032x") if ctx else "?"
    return f"[trace {trace_id[:12]}] {span.name} {duration_ms:.2f} ms {span.status.status_code.name}\n"


def _build_exporter(name: str, settings: Settings, stream: TextIO) -> SpanExporter:
    if name == "jsonl":
        return JsonlSpanExporter(
            traces_dir(settings),
            max_bytes=_int_setting(settings, "trace_max_bytes", DEFAULT_MAX_BYTES),
            keep=_int_setting(settings, "trace_keep_files", DEFAULT_KEEP),
        )
    if name == "console":
        return ConsoleSpanExporter(out=stream, formatter=_console_line)
    return otlp.otlp_span_exporter(settings)


def setup(
    settings: Settings | None = None,
    exporters: Sequence[ExporterSpec] | None = None,
    *,
    metric_readers: Sequence[MetricReader] = (),
    console_stream: TextIO | None = None,
) -> TracingState:
    """Install tracing for this process; a second call returns the first call's state (call `shutdown` first
    to change exporters). `exporters` takes names ("jsonl", "console", "otlp") or SpanExporter instances."""
    global _state, _atexit_registered, _global_is_ours
    with _lock:
        if _state is not None:
            return _state
        settings = settings if settings is not None else Settings()
        names_or_exporters = list(exporters) if exporters is not None else list(exporter_names(settings))
        built: list[SpanExporter] = []
        for spec in names_or_exporters:
            if isinstance(spec, SpanExporter):
                built.append(spec)
            elif spec.strip().lower() in EXPORTER_NAMES:
                if spec.strip().lower() != "none":
                    built.append(
                        _build_exporter(spec.strip().lower(), settings, console_stream or sys.stderr)
                    )
            else:
                raise ConfigError(f"tracing exporter {spec!r} is unknown; valid: {', '.join(EXPORTER_NAMES)}")
        guards = [e for e in built if isinstance(e, otlp.GuardedSpanExporter)]
        if guards:
            otlp.quiet_sdk_logs()

        resource = Resource.create({"service.name": "nativa", "service.version": __version__})
        if settings.otel_service_name:
            resource = Resource.create({"service.version": __version__})  # the variable wins over our default
        pull_reader = InMemoryMetricReader()
        readers: list[MetricReader] = [pull_reader, *metric_readers]
        metric_guards: list[otlp.GuardedMetricExporter] = []
        if guards and otlp.otlp_metrics_wanted(settings):
            metric_guards.append(otlp.otlp_metric_exporter(settings))
            readers.append(PeriodicExportingMetricReader(metric_guards[0]))
        meter_provider = MeterProvider(metric_readers=readers, resource=resource, shutdown_on_exit=False)
        instruments = Instruments.create(meter_provider.get_meter(SCOPE, __version__))

        tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        metrics_processor = BatchSpanProcessor(SpanMetricsExporter(instruments))
        tracer_provider.add_span_processor(metrics_processor)
        for exporter in built:
            tracer_provider.add_span_processor(BatchSpanProcessor(exporter))

        owns_global = isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
        if owns_global:  # share our provider with other OpenTelemetry instrumentation in the process
            trace.set_tracer_provider(tracer_provider)
            otel_metrics.set_meter_provider(meter_provider)
            _global_is_ours = True
        RUNTIME.tracer = tracer_provider.get_tracer(SCOPE, __version__)
        RUNTIME.settings = settings
        _state = TracingState(
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            metric_reader=pull_reader,
            metrics_processor=metrics_processor,
            exporters=built,
            traces_dir=traces_dir(settings),
            settings=settings,
            guards=guards,
            metric_guards=metric_guards,
            owns_global=owns_global,
        )
        if not _atexit_registered:
            atexit.register(shutdown)
            _atexit_registered = True
        return _state


def state() -> TracingState | None:
    """The installed state, or None before `setup` / after `shutdown`."""
    return _state


def _bounded(call: Callable[[], object], deadline: float) -> bool:
    """Run `call` on a daemon thread and wait until `deadline`; False when it did not finish in time."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return False
    worker = threading.Thread(target=call, name="nativa-tracing-flush", daemon=True)
    worker.start()
    worker.join(remaining)
    return not worker.is_alive()


def force_flush(timeout_s: float = 5.0) -> bool:
    """Export every finished span now (e.g. before reading the store back); never waits past `timeout_s`."""
    current = _state
    if current is None:
        return True
    deadline = time.monotonic() + timeout_s
    return _bounded(current.tracer_provider.force_flush, deadline)


def shutdown(timeout_s: float = 5.0) -> None:
    """Flush and close, within `timeout_s`; spans opened afterwards are no-ops until `setup` runs again."""
    global _state
    with _lock:
        current = _state
        if current is None:
            return
        _state = None
        # Our provider may stay the process's global one; after shutdown it would only drop spans noisily.
        RUNTIME.reset()
        if _global_is_ours:
            RUNTIME.tracer = trace.NoOpTracer()
    deadline = time.monotonic() + timeout_s
    _bounded(current.tracer_provider.force_flush, deadline)
    for guard in current.guards:  # a dead endpoint may still be retrying: cut it short
        guard.abandon()
    _bounded(current.tracer_provider.shutdown, deadline)
    # The meter provider pushes a last collection on shutdown; give it what is left, then cut it short.
    _bounded(
        lambda: current.meter_provider.shutdown(timeout_millis=max(0.0, deadline - time.monotonic()) * 1e3),
        deadline,
    )
    for metric_guard in current.metric_guards:
        metric_guard.abandon()


def add_span_processor(processor: SpanProcessor) -> None:
    """Attach a processor to the installed provider (the benchmark counts spans this way)."""
    if _state is None:
        raise ConfigError("tracing is not set up: call nativa.tracing.setup(settings) first")
    _state.tracer_provider.add_span_processor(processor)


@contextmanager
def suspended() -> Iterator[None]:
    """Run a block with tracing off (spans become no-ops), then restore; used to measure tracing's cost."""
    saved = RUNTIME.tracer
    RUNTIME.tracer = trace.NoOpTracer()
    try:
        yield
    finally:
        RUNTIME.tracer = saved


def prometheus_text() -> str:
    """Current metrics in Prometheus text format, for the server's `/metrics`; empty before `setup`."""
    current = _state
    if current is None:
        return ""
    current.metrics_processor.force_flush()  # local and fast: turn spans still queued into points first
    return collect_prometheus(current.metric_reader)
