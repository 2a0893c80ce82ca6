"""Tracing for nativa and its users: OpenTelemetry spans and metrics per the GenAI semantic conventions.

When a model answers wrongly, the trace shows why: which prompt (file and hash), which model and settings,
how many tokens, what the sandbox did, which attempt failed with what error. Library code opens spans
freely; they are cheap no-ops until the application calls `setup(settings)` at its edge.

    from nativa import tracing
    tracing.setup(settings)                      # JSONL store under data_dir/traces (+ console, OTLP)
    with tracing.agent_span("code_agent") as run:
        with tracing.attempt_span(1):
            with tracing.model_span(model="qwen2.5-coder-0.5b", provider="llama.cpp") as ms:
                ms.set_result(input_tokens=120, output_tokens=40, finish_reasons=["stop"])
    result_trace_id = run.trace_id

This package imports none of nativa's other packages except `nativa.errors` and `nativa.config`.
"""

from __future__ import annotations

from opentelemetry.trace import Span, SpanKind

from nativa.tracing._setup import (
    EXPORTER_NAMES,
    TracingState,
    add_span_processor,
    exporter_names,
    force_flush,
    prometheus_text,
    setup,
    shutdown,
    state,
    suspended,
    traces_dir,
)
from nativa.tracing.genai import (
    AgentSpan,
    ModelSpan,
    ReviewSpan,
    ToolSpan,
    agent_span,
    attempt_span,
    model_span,
    review_span,
    tool_span,
)
from nativa.tracing.sandbox import SandboxSpan, sandbox_attributes, sandbox_span
from nativa.tracing.spans import current_span_id, current_trace_id, error_type_of, record_error, span, traced

__all__ = [
    "EXPORTER_NAMES",
    "AgentSpan",
    "ModelSpan",
    "ReviewSpan",
    "SandboxSpan",
    "Span",
    "SpanKind",
    "ToolSpan",
    "TracingState",
    "add_span_processor",
    "agent_span",
    "attempt_span",
    "current_span_id",
    "current_trace_id",
    "error_type_of",
    "exporter_names",
    "force_flush",
    "model_span",
    "prometheus_text",
    "record_error",
    "review_span",
    "sandbox_attributes",
    "sandbox_span",
    "setup",
    "shutdown",
    "span",
    "state",
    "suspended",
    "tool_span",
    "traced",
    "traces_dir",
]
