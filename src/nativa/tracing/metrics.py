"""Metrics beside the spans: model latency and tokens, tool and sandbox durations, errors.

They are derived from finished spans by `SpanMetricsExporter`, which runs behind a batch processor:
recording four histogram points costs more than the span itself (~35 µs measured), and deriving them from
the span keeps traces and metrics in agreement by construction. The cost: metrics trail spans by the batch
delay (flushed on read), and with a sampler configured they count sampled spans only.

Names follow the GenAI conventions where they exist (`gen_ai.client.*`) and `nativa.*` elsewhere. A pull
reader is always installed so `prometheus_text()` can answer the server's `/metrics` without a Prometheus
exporter package; pushing over OTLP is added by `setup` when OTLP is on.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.metrics import Counter, Histogram, Meter
from opentelemetry.sdk.metrics.export import Histogram as HistogramData
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    MetricsData,
    Sum,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode
from opentelemetry.util.types import AttributeValue

from nativa.tracing.genai import MODEL_OPERATIONS, SANDBOX_SPAN

_log = logging.getLogger(__name__)

# Advisory buckets from the GenAI metric conventions, so backends aggregate them alike.
_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
_TTFC_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
_SANDBOX_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


@dataclass(frozen=True)
class Instruments:
    """The instruments the span helpers record into; created once per `setup`."""

    operation_duration: Histogram
    token_usage: Histogram
    time_to_first_chunk: Histogram
    tool_duration: Histogram
    sandbox_duration: Histogram
    agent_duration: Histogram
    errors: Counter
    cascade_answers: Counter
    cascade_escalations: Counter

    @classmethod
    def create(cls, meter: Meter) -> Instruments:
        """Create every instrument on `meter` once, with its name, unit and buckets (the GenAI conventions'
        where they name one)."""
        return cls(
            operation_duration=meter.create_histogram(
                "gen_ai.client.operation.duration",
                unit="s",
                description="Duration of a model call (GenAI client operation).",
                explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
            ),
            token_usage=meter.create_histogram(
                "gen_ai.client.token.usage",
                unit="{token}",
                description="Input and output tokens per model call (gen_ai.token.type says which).",
                explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
            ),
            time_to_first_chunk=meter.create_histogram(
                "gen_ai.client.operation.time_to_first_chunk",
                unit="s",
                description="Time from the request to the first streamed chunk of the answer.",
                explicit_bucket_boundaries_advisory=_TTFC_BUCKETS,
            ),
            tool_duration=meter.create_histogram(
                "nativa.tool.duration",
                unit="s",
                description="Duration of a tool call.",
                explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
            ),
            sandbox_duration=meter.create_histogram(
                "nativa.sandbox.duration",
                unit="s",
                description="Wall time of one sandboxed run.",
                explicit_bucket_boundaries_advisory=_SANDBOX_BUCKETS,
            ),
            agent_duration=meter.create_histogram(
                "nativa.agent.duration",
                unit="s",
                description="Wall time of one agent run, all attempts included.",
                explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
            ),
            errors=meter.create_counter(
                "nativa.errors",
                unit="{error}",
                description="Failed operations, by nativa.operation and error.type.",
            ),
            cascade_answers=meter.create_counter(
                "nativa.cascade.answers",
                unit="{run}",
                description="Agent runs on a cascade, by the stage that answered (nativa.cascade.stage).",
            ),
            cascade_escalations=meter.create_counter(
                "nativa.cascade.escalations",
                unit="{escalation}",
                description="Hand-overs from one cascade stage to the next, by nativa.cascade.reason.",
            ),
        )


def _labels(attrs: Mapping[str, AttributeValue], keys: Sequence[str]) -> dict[str, AttributeValue]:
    return {k: attrs[k] for k in keys if k in attrs}


class SpanMetricsExporter(SpanExporter):
    """Turns finished spans into metric points, on the batch processor's thread, not the traced code's."""

    def __init__(self, instruments: Instruments) -> None:
        self.instruments = instruments

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Record each span's metrics; a span that cannot be read is skipped (logged at debug), never fails
        the batch."""
        for span in spans:
            try:
                self._record(span)
            except Exception as exc:  # noqa: BLE001 - a malformed attribute must not stop the batch
                _log.debug("nativa tracing: no metrics from span %r: %r", span.name, exc)
        return SpanExportResult.SUCCESS

    def _record(self, span: ReadableSpan) -> None:
        attrs = span.attributes or {}
        operation = attrs.get("gen_ai.operation.name")
        is_sandbox = span.name == SANDBOX_SPAN
        if operation is None and not is_sandbox:
            return
        seconds = ((span.end_time or 0) - (span.start_time or 0)) / 1e9
        error_type = attrs.get("error.type") if span.status.status_code is StatusCode.ERROR else None
        ins = self.instruments
        if operation in MODEL_OPERATIONS:
            labels = _labels(attrs, ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model"))
            ins.operation_duration.record(
                seconds, {**labels, "error.type": error_type} if error_type else labels
            )
            ttfc = attrs.get("gen_ai.response.time_to_first_chunk")
            if isinstance(ttfc, int | float):
                ins.time_to_first_chunk.record(ttfc, labels)
            for key, token_type in (
                ("gen_ai.usage.input_tokens", "input"),
                ("gen_ai.usage.output_tokens", "output"),
            ):
                count = attrs.get(key)
                if isinstance(count, int):
                    ins.token_usage.record(count, {**labels, "gen_ai.token.type": token_type})
        elif operation == "execute_tool":
            labels = _labels(attrs, ("gen_ai.tool.name",))
            ins.tool_duration.record(seconds, {**labels, "error.type": error_type} if error_type else labels)
        elif operation == "invoke_agent":
            labels = _labels(attrs, ("gen_ai.agent.name",))
            ins.agent_duration.record(seconds, {**labels, "error.type": error_type} if error_type else labels)
            stage = attrs.get("nativa.cascade.stage")
            if stage is not None:  # how often each stage answered, and why work was handed on
                ins.cascade_answers.add(1, {**labels, "nativa.cascade.stage": stage})
                for reason in str(attrs.get("nativa.cascade.reason") or "").split(","):
                    if reason:
                        ins.cascade_escalations.add(1, {**labels, "nativa.cascade.reason": reason})
        elif is_sandbox:
            labels = _labels(attrs, ("nativa.sandbox.tier", "nativa.sandbox.killed_by"))
            if error_type:
                labels["error.type"] = error_type
            duration = attrs.get("nativa.sandbox.duration_s")
            ins.sandbox_duration.record(duration if isinstance(duration, int | float) else seconds, labels)
        if error_type:
            kind = "sandbox" if is_sandbox else str(operation)
            ins.errors.add(1, {"nativa.operation": kind, "error.type": error_type})

    def shutdown(self) -> None:
        """Nothing to release: the instruments belong to the meter provider."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Always True: points are recorded as each batch is exported."""
        return True


_PROM_NAME_BAD = re.compile(r"[^a-zA-Z0-9_:]")
_PROM_UNITS = {"s": "seconds", "{token}": "tokens", "{error}": "", "By": "bytes"}


def _prom_name(name: str, unit: str, is_counter: bool) -> str:
    """OpenTelemetry name and unit to a Prometheus name: `gen_ai.client.token.usage` + `{token}` becomes
    `gen_ai_client_token_usage_tokens` (counters get `_total` from the exposition itself)."""
    base = _PROM_NAME_BAD.sub("_", name)
    suffix = _PROM_UNITS.get(unit, "" if unit.startswith("{") else _PROM_NAME_BAD.sub("_", unit))
    if suffix and not base.endswith("_" + suffix):
        base = f"{base}_{suffix}"
    return base.removesuffix("_total") if is_counter else base


def _prom_labels(attributes: Mapping[str, AttributeValue] | None) -> dict[str, str]:
    return {_PROM_NAME_BAD.sub("_", k): str(v) for k, v in (attributes or {}).items()}


def render_prometheus(data: MetricsData | None) -> str:
    """Prometheus text exposition (version 0.0.4) of collected OpenTelemetry metrics, written by
    `prometheus_client` (escaping, number formats, cumulative buckets are its business)."""
    if data is None:
        return ""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

    families: list[Any] = []
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                point_data = metric.data
                unit = metric.unit or ""
                if isinstance(point_data, HistogramData):
                    points = [p for p in point_data.data_points if isinstance(p, HistogramDataPoint)]
                    keys = list(dict.fromkeys(k for p in points for k in _prom_labels(p.attributes)))
                    family = HistogramMetricFamily(_prom_name(metric.name, unit, False), metric.description,
                                                   labels=keys)
                    for hp in points:
                        labels = _prom_labels(hp.attributes)
                        cumulative, buckets = 0, []
                        for bound, count in zip([*hp.explicit_bounds, math.inf], hp.bucket_counts, strict=True):
                            cumulative += count
                            buckets.append((_bound(bound), cumulative))
                        family.add_metric([labels.get(k, "") for k in keys], buckets, float(hp.sum))
                    families.append(family)
                else:
                    points = list(point_data.data_points)
                    keys = list(dict.fromkeys(k for p in points for k in _prom_labels(p.attributes)))
                    counter = isinstance(point_data, Sum) and point_data.is_monotonic
                    cls = CounterMetricFamily if counter else GaugeMetricFamily
                    family = cls(_prom_name(metric.name, unit, counter), metric.description, labels=keys)
                    for p in points:
                        labels = _prom_labels(p.attributes)
                        family.add_metric([labels.get(k, "") for k in keys], float(getattr(p, "value", 0)))
                    families.append(family)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return generate_latest(registry).decode()


def _bound(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(float(bound))


class _Families:
    """A prometheus_client collector over families already built (one scrape's worth)."""

    def __init__(self, families: list[Any]) -> None:
        self.families = families

    def collect(self) -> Iterable[Any]:
        return iter(self.families)


def collect_prometheus(reader: InMemoryMetricReader | None) -> str:
    """Collect now from the pull reader and render; empty when tracing is not set up."""
    if reader is None:
        return ""
    return render_prometheus(reader.get_metrics_data())
