"""Spans, GenAI attributes, nesting, the error path and content privacy, asserted on the SDK's in-memory
exporter."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from nativa import tracing
from nativa.errors import ModelError

Recorded = Any  # the `recorded` fixture (conftest.py): in-memory exporter, flushed before each read


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def _agent_run(fail_model: bool = False) -> str | None:
    with tracing.agent_span("code_agent", model="qwen2.5-coder-0.5b", provider="llama.cpp") as run:
        with tracing.attempt_span(1):
            with tracing.model_span(
                model="qwen2.5-coder-0.5b",
                provider="llama.cpp",
                operation="chat",
                remote=False,
                temperature=0.0,
                max_tokens=256,
                prompt_file="code_agent.yaml",
                prompt_hash="sha256:abc",
            ) as ms:
                ms.set_input_messages([{"role": "user", "content": "secret prompt"}])
                ms.first_token()
                if fail_model:
                    raise ModelError("llama.cpp crashed while decoding token 17")
                ms.set_result(
                    input_tokens=120, output_tokens=40, finish_reasons=["stop"], output_text="secret answer"
                )
            with tracing.sandbox_span("A") as sb:
                sb.set_result(
                    {
                        "tier": "A",
                        "duration_s": 0.031,
                        "exit_code": 1,
                        "killed_by": "timeout",
                        "layers": ["bwrap", "seccomp", "rlimits"],
                    }
                )
            with tracing.tool_span("sql", arguments={"query": "select secret"}) as tool:
                tool.set_result([["secret row"]])
        return run.trace_id


def test_agent_run_nests_as_it_happens(recorded: Recorded) -> None:
    trace_id = _agent_run()
    spans = recorded.by_name()
    assert set(spans) == {
        "invoke_agent code_agent",
        "attempt 1",
        "chat qwen2.5-coder-0.5b",
        "nativa.sandbox.run",
        "execute_tool sql",
    }
    agent, attempt = spans["invoke_agent code_agent"], spans["attempt 1"]
    assert agent.parent is None
    assert parent_of(attempt) == agent.context.span_id
    for child in ("chat qwen2.5-coder-0.5b", "nativa.sandbox.run", "execute_tool sql"):
        assert parent_of(spans[child]) == attempt.context.span_id, child
    assert len({s.context.trace_id for s in spans.values()}) == 1
    assert trace_id == format(agent.context.trace_id, "032x")
    assert agent.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert agent.attributes["gen_ai.agent.name"] == "code_agent"
    assert attempt.attributes["nativa.attempt.number"] == 1


def test_model_span_carries_the_genai_attributes(recorded: Recorded) -> None:
    _agent_run()
    chat = recorded.by_name()["chat qwen2.5-coder-0.5b"]
    assert chat.kind is SpanKind.INTERNAL
    attrs = dict(chat.attributes or {})
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "llama.cpp"
    assert attrs["gen_ai.request.model"] == "qwen2.5-coder-0.5b"
    assert attrs["gen_ai.request.temperature"] == 0.0
    assert attrs["gen_ai.request.max_tokens"] == 256
    assert attrs["gen_ai.usage.input_tokens"] == 120
    assert attrs["gen_ai.usage.output_tokens"] == 40
    assert tuple(attrs["gen_ai.response.finish_reasons"]) == ("stop",)
    assert attrs["nativa.prompt.file"] == "code_agent.yaml"
    assert attrs["nativa.prompt.hash"] == "sha256:abc"
    ttfc = attrs["gen_ai.response.time_to_first_chunk"]
    assert isinstance(ttfc, float) and 0 <= ttfc <= (chat.end_time - chat.start_time) / 1e9


def test_remote_model_span_is_a_client_span(recorded: Recorded) -> None:
    with tracing.model_span(model="gpt-4o-mini", provider="openai", remote=True):
        pass
    assert recorded.by_name()["chat gpt-4o-mini"].kind is SpanKind.CLIENT


def test_first_token_is_recorded_once(recorded: Recorded) -> None:
    with tracing.model_span(model="m", provider="p") as ms:
        ms.first_token()
        first = ms.span.attributes["gen_ai.response.time_to_first_chunk"]  # type: ignore[attr-defined]
        for _ in range(100):
            sum(range(1000))
        ms.first_token()
    assert recorded.by_name()["chat m"].attributes["gen_ai.response.time_to_first_chunk"] == first


def test_sandbox_and_tool_attributes(recorded: Recorded) -> None:
    _agent_run()
    spans = recorded.by_name()
    sandbox = spans["nativa.sandbox.run"].attributes
    assert sandbox["nativa.sandbox.tier"] == "A"
    assert sandbox["nativa.sandbox.duration_s"] == 0.031
    assert sandbox["nativa.sandbox.exit_code"] == 1
    assert sandbox["nativa.sandbox.killed_by"] == "timeout"
    assert tuple(sandbox["nativa.sandbox.layers"]) == ("bwrap", "seccomp", "rlimits")
    tool = spans["execute_tool sql"].attributes
    assert tool["gen_ai.operation.name"] == "execute_tool" and tool["gen_ai.tool.name"] == "sql"


@dataclass
class _RunResult:
    tier: str
    duration_s: float
    exit_code: int
    killed_by: str | None
    layers: tuple[str, ...]
    stdout: str = "do not trace me"


def test_sandbox_attributes_reads_objects_and_leaves_output_out(recorded: Recorded) -> None:
    with tracing.span("run") as s:
        set_ = tracing.sandbox_attributes(s, _RunResult("B", 1.5, -9, "memory", ("landlock",)))
    assert set_["nativa.sandbox.killed_by"] == "memory"
    attrs = recorded.by_name()["run"].attributes
    assert attrs["nativa.sandbox.tier"] == "B" and attrs["nativa.sandbox.exit_code"] == -9
    assert not any("stdout" in k for k in attrs)


def test_error_sets_status_and_type_and_is_reraised(recorded: Recorded) -> None:
    with pytest.raises(ModelError, match="token 17") as caught:
        _agent_run(fail_model=True)
    spans = recorded.by_name()
    chat = spans["chat qwen2.5-coder-0.5b"]
    assert chat.status.status_code is StatusCode.ERROR
    assert chat.attributes["error.type"] == "nativa.errors.ModelError"
    assert "token 17" in (chat.status.description or "")
    exception_events = [e for e in chat.events if e.name == "exception"]
    assert len(exception_events) == 1
    assert exception_events[0].attributes["exception.type"].endswith("ModelError")
    # the failure propagates: every enclosing span failed too, and nothing after it ran
    for name in ("attempt 1", "invoke_agent code_agent"):
        assert spans[name].status.status_code is StatusCode.ERROR
    assert "nativa.sandbox.run" not in spans
    assert str(caught.value) == "llama.cpp crashed while decoding token 17"


def test_builtin_error_type_is_bare(recorded: Recorded) -> None:
    with pytest.raises(TimeoutError), tracing.span("wait"):
        raise TimeoutError("sandbox wall clock")
    assert recorded.by_name()["wait"].attributes["error.type"] == "TimeoutError"


def test_content_is_off_by_default(recorded: Recorded) -> None:
    _agent_run()
    for span in recorded.spans():
        for key, value in (span.attributes or {}).items():
            assert "secret" not in str(value), f"{span.name}.{key} leaked content"
        assert not {
            "gen_ai.input.messages",
            "gen_ai.output.messages",
            "gen_ai.tool.call.arguments",
            "gen_ai.tool.call.result",
        } & set(span.attributes or {})


def test_content_on_is_recorded_and_truncated(setup_with: Callable[..., Recorded]) -> None:
    recorded = setup_with(trace_content=True, trace_content_max_chars=8)
    with tracing.model_span(model="m", provider="p") as ms:
        ms.set_input_messages([{"role": "system", "content": "short"}, {"role": "user", "content": "x" * 50}])
        ms.set_result(output_tokens=3, finish_reasons=["length"], output_text="answer that is long")
    with tracing.tool_span("sql", arguments={"query": "select 1"}) as tool:
        tool.set_result("ok")
    spans = recorded.by_name()
    inputs = json.loads(spans["chat m"].attributes["gen_ai.input.messages"])
    assert inputs[0] == {"role": "system", "parts": [{"type": "text", "content": "short"}]}
    assert inputs[1]["parts"][0]["content"] == "x" * 8 + "…[truncated 42 chars]"
    outputs = json.loads(spans["chat m"].attributes["gen_ai.output.messages"])
    assert outputs == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "answer t…[truncated 11 chars]"}],
            "finish_reason": "length",
        }
    ]
    tool_attrs = spans["execute_tool sql"].attributes
    assert tool_attrs["gen_ai.tool.call.arguments"].startswith('{"query"')
    assert tool_attrs["gen_ai.tool.call.result"] == "ok"


def test_explicit_settings_override_for_content(
    recorded: Recorded, setup_with: Callable[..., Recorded]
) -> None:
    from nativa.config import Settings

    with tracing.model_span(model="m", provider="p", settings=Settings(trace_content=True)) as ms:
        ms.set_input_messages("hello")
    attrs = recorded.by_name()["chat m"].attributes
    assert json.loads(attrs["gen_ai.input.messages"])[0]["parts"][0]["content"] == "hello"


def test_span_attributes_and_kind(recorded: Recorded) -> None:
    with tracing.span("fetch", attributes={"url.full": "https://x"}, kind=SpanKind.CLIENT) as s:
        s.set_attribute("http.response.status_code", 200)
        inner_id = tracing.current_trace_id()
    fetched = recorded.by_name()["fetch"]
    assert fetched.kind is SpanKind.CLIENT
    assert (
        fetched.attributes["url.full"] == "https://x"
        and fetched.attributes["http.response.status_code"] == 200
    )
    assert inner_id == format(fetched.context.trace_id, "032x")
    assert tracing.current_trace_id() is None


def test_suspended_records_nothing(recorded: Recorded) -> None:
    with tracing.suspended(), tracing.span("hidden"):
        assert tracing.current_trace_id() is None
    with tracing.span("shown"):
        pass
    assert [s.name for s in recorded.spans()] == ["shown"]


def test_spans_are_noops_before_setup() -> None:
    tracing.shutdown()
    assert tracing.state() is None

    @tracing.traced
    def double(x: int) -> int:
        return 2 * x

    with tracing.agent_span("a") as run, tracing.model_span(model="m", provider="p") as ms:
        ms.set_result(input_tokens=1)
        assert double(4) == 8
        assert run.trace_id is None and tracing.current_trace_id() is None
    with pytest.raises(ValueError), tracing.span("x"):
        raise ValueError("still raised")


def test_setup_is_idempotent(recorded: Recorded, settings: object) -> None:
    first = tracing.state()
    assert tracing.setup(settings, exporters=["console"]) is first  # type: ignore[arg-type]
