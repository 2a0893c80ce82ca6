"""Spans for the steps of an agent run, named and attributed per the OpenTelemetry GenAI conventions.

`invoke_agent {agent}` > `attempt {n}` > `chat {model}` / `execute_tool {tool}` / `nativa.sandbox.run`.
Metrics are derived from these spans off the hot path (see `metrics.py`), so the attributes here are their
source. Message text, tool arguments and results are sensitive: they are recorded only when the settings say
`trace_content`, and truncated to `trace_content_max_chars`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind
from opentelemetry.util.types import AttributeValue

from nativa.tracing._runtime import RUNTIME
from nativa.tracing.spans import _NOT_ERRORS, Attributes, record_error

if TYPE_CHECKING:
    from nativa.config import Settings

OPERATION: Final = "gen_ai.operation.name"
PROVIDER: Final = "gen_ai.provider.name"
REQUEST_MODEL: Final = "gen_ai.request.model"
INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
TTFC: Final = "gen_ai.response.time_to_first_chunk"
TOOL_NAME: Final = "gen_ai.tool.name"
AGENT_NAME: Final = "gen_ai.agent.name"
SANDBOX_PREFIX: Final = "nativa.sandbox."
SANDBOX_SPAN: Final = "nativa.sandbox.run"
MODEL_OPERATIONS: Final = frozenset({"chat", "text_completion", "generate_content", "embeddings"})
_TRUNCATED = "…[truncated {n} chars]"


def content_limit(settings: Settings | None) -> int | None:
    """Max characters of content to record, or None when content recording is off (the default)."""
    chosen = settings if settings is not None else RUNTIME.settings
    if chosen is None or not chosen.trace_content:
        return None
    return chosen.trace_content_max_chars


def truncate(text: str, limit: int) -> str:
    """Cut `text` to `limit` characters, saying how much was cut so a reader knows it is not the whole."""
    if len(text) <= limit:
        return text
    return text[:limit] + _TRUNCATED.format(n=len(text) - limit)


def _messages_json(messages: Sequence[Mapping[str, Any]] | str, limit: int) -> str:
    """Messages in the GenAI `parts` shape, text parts truncated, as the JSON string the convention asks."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    out: list[dict[str, Any]] = []
    for message in messages:
        if "parts" in message:
            out.append(dict(message))
            continue
        content = message.get("content")
        text = content if isinstance(content, str) else json.dumps(content, default=str)
        entry: dict[str, Any] = {
            "role": str(message.get("role", "user")),
            "parts": [{"type": "text", "content": truncate(text, limit)}],
        }
        if "finish_reason" in message:
            entry["finish_reason"] = message["finish_reason"]
        out.append(entry)
    return json.dumps(out, ensure_ascii=False, default=str)


class _OperationSpan:
    """Shared lifecycle: a span current for the block; an exception is recorded on it and re-raised."""

    operation: str = ""

    def __init__(self, name: str, kind: SpanKind, attributes: dict[str, AttributeValue]) -> None:
        self._name = name
        self._kind = kind
        self._attributes = attributes
        self.span: Span = trace.INVALID_SPAN
        self._token: object | None = None
        self._start = 0.0

    def __enter__(self) -> Self:
        self.span = RUNTIME.tracer.start_span(self._name, kind=self._kind, attributes=self._attributes)
        self._token = otel_context.attach(trace.set_span_in_context(self.span))
        self._start = time.perf_counter()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc is not None and not isinstance(exc, _NOT_ERRORS):
                record_error(self.span, exc)
        finally:
            otel_context.detach(self._token)  # type: ignore[arg-type]
            self.span.end()

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        self.span.set_attribute(key, value)

    def set_attributes(self, attributes: Attributes) -> None:
        self.span.set_attributes(attributes)


class ModelSpan(_OperationSpan):
    """One model call: `chat qwen2.5-coder-0.5b`, with usage, finish reasons and time to first chunk."""

    def __init__(
        self,
        operation: str,
        model: str,
        attributes: dict[str, AttributeValue],
        remote: bool,
        limit: int | None,
    ) -> None:
        super().__init__(f"{operation} {model}", SpanKind.CLIENT if remote else SpanKind.INTERNAL, attributes)
        self.operation = operation
        self._model = model
        self._limit = limit
        self._ttfc: float | None = None

    def __enter__(self) -> Self:
        super().__enter__()
        return self

    def set_input_messages(self, messages: Sequence[Mapping[str, Any]] | str) -> None:
        """Record the prompt, only when content tracing is on (privacy)."""
        if self._limit is not None:
            self.span.set_attribute("gen_ai.input.messages", _messages_json(messages, self._limit))

    def first_token(self) -> None:
        """Mark the first streamed chunk; later calls are ignored (call it on every chunk)."""
        if self._ttfc is None:
            self._ttfc = time.perf_counter() - self._start
            self.span.set_attribute(TTFC, self._ttfc)

    def set_result(
        self,
        *,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        finish_reasons: Sequence[str] | None = None,
        output_text: str | None = None,
        response_model: str | None = None,
        response_id: str | None = None,
        output_texts: Sequence[str] | None = None,
    ) -> None:
        """Record what the model answered; the text only when content tracing is on (`output_texts`: one
        message per choice, when the call drew several)."""
        span = self.span
        if input_tokens is not None:
            span.set_attribute(INPUT_TOKENS, int(input_tokens))
        if output_tokens is not None:
            span.set_attribute(OUTPUT_TOKENS, int(output_tokens))
        if finish_reasons is not None:
            span.set_attribute(FINISH_REASONS, [str(r) for r in finish_reasons])
        if response_model is not None:
            span.set_attribute("gen_ai.response.model", response_model)
        if response_id is not None:
            span.set_attribute("gen_ai.response.id", response_id)
        texts = list(output_texts) if output_texts is not None else [output_text] if output_text is not None else []
        if texts and self._limit is not None:
            messages: list[dict[str, Any]] = []
            for i, text in enumerate(texts):
                message: dict[str, Any] = {"role": "assistant", "content": text}
                if finish_reasons and i < len(finish_reasons):
                    message["finish_reason"] = finish_reasons[i]
                messages.append(message)
            span.set_attribute("gen_ai.output.messages", _messages_json(messages, self._limit))


def model_span(
    *,
    model: str,
    provider: str,
    operation: str = "chat",
    remote: bool = False,
    temperature: float | None = None,
    max_tokens: int | None = None,
    prompt_file: str | None = None,
    prompt_hash: str | None = None,
    settings: Settings | None = None,
    attributes: Attributes | None = None,
) -> ModelSpan:
    """Span for one model call; INTERNAL for the in-process model, CLIENT for a remote server."""
    attrs: dict[str, AttributeValue] = {OPERATION: operation, PROVIDER: provider, REQUEST_MODEL: model}
    if temperature is not None:
        attrs["gen_ai.request.temperature"] = float(temperature)
    if max_tokens is not None:
        attrs["gen_ai.request.max_tokens"] = int(max_tokens)
    if prompt_file is not None:
        attrs["nativa.prompt.file"] = prompt_file
    if prompt_hash is not None:
        attrs["nativa.prompt.hash"] = prompt_hash
    if attributes:
        attrs.update(attributes)
    return ModelSpan(operation, model, attrs, remote, content_limit(settings))


class ToolSpan(_OperationSpan):
    """One tool call: `execute_tool sql`; arguments and result are content, recorded only when opted in."""

    operation = "execute_tool"

    def __init__(self, tool: str, attributes: dict[str, AttributeValue], limit: int | None) -> None:
        super().__init__(f"execute_tool {tool}", SpanKind.INTERNAL, attributes)
        self._tool = tool
        self._limit = limit

    def __enter__(self) -> Self:
        super().__enter__()
        return self

    def set_arguments(self, arguments: object) -> None:
        """Record the call's arguments as JSON, cut to the content limit; nothing unless content capture is
        on (arguments may hold user data)."""
        if self._limit is not None:
            self.span.set_attribute("gen_ai.tool.call.arguments", _content_json(arguments, self._limit))

    def set_result(self, result: object) -> None:
        """Record what the tool returned, cut to the content limit; nothing unless content capture is on."""
        if self._limit is not None:
            self.span.set_attribute("gen_ai.tool.call.result", _content_json(result, self._limit))


def _content_json(value: object, limit: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return truncate(text, limit)


def tool_span(
    name: str,
    *,
    arguments: object = None,
    call_id: str | None = None,
    description: str | None = None,
    tool_type: str = "function",
    settings: Settings | None = None,
    attributes: Attributes | None = None,
) -> ToolSpan:
    """Span for one tool call, named `execute_tool {name}`."""
    attrs: dict[str, AttributeValue] = {
        OPERATION: "execute_tool",
        TOOL_NAME: name,
        "gen_ai.tool.type": tool_type,
    }
    if call_id is not None:
        attrs["gen_ai.tool.call.id"] = call_id
    if description is not None:
        attrs["gen_ai.tool.description"] = description
    if attributes:
        attrs.update(attributes)
    limit = content_limit(settings)
    if arguments is not None and limit is not None:
        attrs["gen_ai.tool.call.arguments"] = _content_json(arguments, limit)
    return ToolSpan(name, attrs, limit)


class AgentSpan(_OperationSpan):
    """One agent run, `invoke_agent code_agent`: the root of its attempts, model calls and sandbox runs."""

    operation = "invoke_agent"

    def __init__(self, agent: str, attributes: dict[str, AttributeValue]) -> None:
        super().__init__(f"invoke_agent {agent}", SpanKind.INTERNAL, attributes)
        self._agent = agent

    def __enter__(self) -> Self:
        super().__enter__()
        return self

    @property
    def trace_id(self) -> str | None:
        """The run's trace id (32 hex), for `AgentResult.trace_id`; None when tracing is not set up."""
        ctx = self.span.get_span_context()
        return format(ctx.trace_id, "032x") if ctx.is_valid else None


def agent_span(
    name: str,
    *,
    model: str | None = None,
    provider: str | None = None,
    conversation_id: str | None = None,
    attributes: Attributes | None = None,
) -> AgentSpan:
    """Span for one agent run, named `invoke_agent {name}`."""
    attrs: dict[str, AttributeValue] = {OPERATION: "invoke_agent", AGENT_NAME: name}
    if model is not None:
        attrs[REQUEST_MODEL] = model
    if provider is not None:
        attrs[PROVIDER] = provider
    if conversation_id is not None:
        attrs["gen_ai.conversation.id"] = conversation_id
    if attributes:
        attrs.update(attributes)
    return AgentSpan(name, attrs)


def attempt_span(number: int, attributes: Attributes | None = None) -> _OperationSpan:
    """Span for one attempt of the self-correcting loop (`attempt 2`), between the agent and its steps."""
    attrs: dict[str, AttributeValue] = {"nativa.attempt.number": number}
    if attributes:
        attrs.update(attributes)
    scope = _OperationSpan(f"attempt {number}", SpanKind.INTERNAL, attrs)
    scope.operation = "attempt"
    return scope


REVIEW_PREFIX: Final = "nativa.review."
_REVIEW_FINDINGS_MAX_CHARS = 4000


class ReviewSpan(_OperationSpan):
    """One review step: `review code` / `review tool sql` carry a policy verdict, `review approval` a decision.

    Findings are recorded always (they name rules, lines, hosts and paths, not the code itself), as JSON
    cut to 4000 characters; results are read duck-typed, since tracing imports none of nativa's packages.
    """

    operation = "review"

    def __init__(self, subject: str, attributes: dict[str, AttributeValue]) -> None:
        super().__init__(f"review {subject}", SpanKind.INTERNAL, attributes)

    def __enter__(self) -> Self:
        super().__enter__()
        return self

    def set_verdict(self, verdict: object) -> None:
        """Copy a verdict's max risk, rule ids and findings (`rule, risk, line, message, target`)."""
        findings = list(getattr(verdict, "findings", ()) or ())
        rows = [f.to_dict() if hasattr(f, "to_dict") else dict(f) for f in findings]
        self.span.set_attributes({
            REVIEW_PREFIX + "max_risk": str(getattr(verdict, "max_risk", "none")),
            REVIEW_PREFIX + "finding_count": len(rows),
            REVIEW_PREFIX + "rules": sorted({str(r.get("rule")) for r in rows}),
            REVIEW_PREFIX + "findings": truncate(json.dumps(rows, ensure_ascii=False, default=str),
                                                 _REVIEW_FINDINGS_MAX_CHARS),
        })
        duration = getattr(verdict, "duration_s", None)
        if isinstance(duration, float):
            self.span.set_attribute(REVIEW_PREFIX + "duration_s", duration)

    def set_decision(self, *, status: str, approved: bool, scope: str | None, who: str,
                     mode: str | None = None) -> None:
        """Record what was decided, by whom, and for how long the approval holds."""
        attrs: dict[str, AttributeValue] = {REVIEW_PREFIX + "decision": status, REVIEW_PREFIX + "approved": approved,
                                            REVIEW_PREFIX + "who": who}
        if scope is not None:
            attrs[REVIEW_PREFIX + "scope"] = scope
        if mode is not None:
            attrs[REVIEW_PREFIX + "mode"] = mode
        self.span.set_attributes(attrs)


def review_span(subject: str, *, code_hash: str | None = None, session: str | None = None,
                attributes: Attributes | None = None) -> ReviewSpan:
    """Span for one review step, named `review {subject}` (`review code`, `review tool sql`, `review approval`)."""
    attrs: dict[str, AttributeValue] = {REVIEW_PREFIX + "subject": subject}
    if code_hash is not None:
        attrs[REVIEW_PREFIX + "code_hash"] = code_hash
    if session is not None:
        attrs[REVIEW_PREFIX + "session"] = session
    if attributes:
        attrs.update(attributes)
    return ReviewSpan(subject, attrs)
