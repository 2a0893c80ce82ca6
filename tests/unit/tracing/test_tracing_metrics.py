"""Metrics derived from spans: GenAI tokens and durations, sandbox duration, errors, /metrics text."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader

from nativa import tracing

Recorded = Any


def _points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    out: dict[str, list[Any]] = {}
    assert data is not None
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                out[metric.name] = list(metric.data.data_points)
    return out


def _run() -> None:
    for tokens_in, tokens_out in ((100, 20), (50, 5)):
        with tracing.model_span(model="small", provider="llama.cpp") as ms:
            ms.first_token()
            ms.set_result(input_tokens=tokens_in, output_tokens=tokens_out)
    with pytest.raises(TimeoutError), tracing.model_span(model="small", provider="llama.cpp"):
        raise TimeoutError("no answer")
    with tracing.sandbox_span("A") as sb:
        sb.set_result({"tier": "A", "duration_s": 2.5, "exit_code": 0})
    with pytest.raises(PermissionError), tracing.tool_span("http"):
        raise PermissionError("blocked address")


def test_token_usage_and_durations(recorded: Recorded) -> None:
    _run()
    tracing.force_flush()
    state = tracing.state()
    assert state is not None
    tracing.prometheus_text()  # flushes the span-to-metric processor
    points = _points(state.metric_reader)

    usage = {p.attributes["gen_ai.token.type"]: p for p in points["gen_ai.client.token.usage"]}
    assert (usage["input"].sum, usage["input"].count) == (150, 2)
    assert (usage["output"].sum, usage["output"].count) == (25, 2)
    assert usage["input"].attributes["gen_ai.request.model"] == "small"
    assert usage["input"].attributes["gen_ai.provider.name"] == "llama.cpp"

    durations = points["gen_ai.client.operation.duration"]
    ok = [p for p in durations if "error.type" not in p.attributes]
    failed = [p for p in durations if p.attributes.get("error.type") == "TimeoutError"]
    assert ok[0].count == 2 and failed[0].count == 1
    assert points["gen_ai.client.operation.time_to_first_chunk"][0].count == 2

    (sandbox,) = points["nativa.sandbox.duration"]
    assert isinstance(sandbox, HistogramDataPoint)
    assert sandbox.sum == pytest.approx(2.5)  # the sandbox's own measured duration, not the span's
    assert sandbox.attributes["nativa.sandbox.tier"] == "A"

    errors = {
        (p.attributes["nativa.operation"], p.attributes["error.type"]): p.value
        for p in points["nativa.errors"]
    }
    assert errors == {("chat", "TimeoutError"): 1, ("execute_tool", "PermissionError"): 1}


def test_prometheus_text(recorded: Recorded) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    _run()
    text = tracing.prometheus_text()
    families = {f.name: f for f in text_string_to_metric_families(text)}  # a real Prometheus parse
    assert families["gen_ai_client_token_usage_tokens"].type == "histogram"
    (input_sum,) = [s.value for s in families["gen_ai_client_token_usage_tokens"].samples
                    if s.name.endswith("_sum") and s.labels.get("gen_ai_token_type") == "input"]
    assert input_sum == 150
    errors = {(s.labels["nativa_operation"], s.labels["error_type"]): s.value
              for s in families["nativa_errors"].samples if s.name == "nativa_errors_total"}
    assert errors[("chat", "TimeoutError")] == 1
    # buckets are cumulative and end at +Inf with the count
    buckets = [(s.labels["le"], s.value) for s in families["nativa_sandbox_duration_seconds"].samples
               if s.name.endswith("_bucket")]
    counts = [c for _, c in buckets]
    assert counts == sorted(counts) and buckets[-1] == ("+Inf", 1)
    assert dict(buckets)["2.5"] == 1 and dict(buckets)["1.0"] == 0


def test_no_metrics_without_setup() -> None:
    tracing.shutdown()
    assert tracing.prometheus_text() == ""
