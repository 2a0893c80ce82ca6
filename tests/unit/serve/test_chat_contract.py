"""The chat endpoint's contract in-process: OpenAI shapes, streaming events, trace ids, and every error shape."""

from __future__ import annotations

import json
import logging
import math
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from unit.serve.helpers import EchoModel, make_app

from nativa import tracing
from nativa.config import Settings

USER = [{"role": "user", "content": "hello there"}]


@pytest.fixture
def model() -> EchoModel:
    return EchoModel()


@pytest.fixture
def client(settings: Settings, model: EchoModel) -> TestClient:
    return TestClient(make_app(settings, model), raise_server_exceptions=False)


def test_completion_has_openai_shape_usage_and_trace_id(client: TestClient) -> None:
    r = client.post("/v1/chat/completions", json={"model": "small", "messages": USER, "max_tokens": 50})
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "echo hello there"}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}
    assert body["trace_id"] and r.headers["x-trace-id"] == body["trace_id"]


def test_options_reach_the_model(client: TestClient, model: EchoModel) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    r = client.post("/v1/chat/completions", json={
        "model": "small", "messages": USER, "max_tokens": 2, "temperature": 0.5, "stop": ["x", "y"], "seed": 7,
        "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}})
    assert r.status_code == 200 and r.json()["choices"][0]["finish_reason"] == "length"
    opts = model.options[-1]
    assert (opts.max_tokens, opts.temperature, opts.stop, opts.seed) == (2, 0.5, ("x", "y"), 7)
    assert opts.json_schema == schema
    client.post("/v1/chat/completions", json={"model": "small", "messages": USER,
                                              "response_format": {"type": "json_object"}})
    assert model.options[-1].json_schema == {"type": "object"}


def test_stream_sends_role_deltas_finish_usage_then_done(client: TestClient) -> None:
    r = client.post("/v1/chat/completions", json={"model": "small", "messages": USER, "stream": True,
                                                  "stream_options": {"include_usage": True}})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["x-trace-id"]
    events = [line[6:] for line in r.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "echo hello there"
    finish = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finish[-1] == "stop" and set(finish[:-1]) == {None}
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 3


def test_models_lists_what_is_served(client: TestClient) -> None:
    assert [m["id"] for m in client.get("/v1/models").json()["data"]] == ["small"]


@pytest.mark.parametrize(("body", "status", "param", "words"), [
    ({"model": "small", "messages": []}, 422, "messages", "at least 1"),
    ({"model": "small", "messages": [{"role": "robot", "content": "x"}]}, 422, "messages[0].role", "'user'"),
    ({"model": "small", "messages": [{"role": "user", "content": 5}]}, 422, "messages[0].content", "string"),
    ({"model": "small", "messages": USER, "temperature": 3}, 422, "temperature", "less than or equal to 2"),
    ({"model": "small", "messages": USER, "max_tokens": "many"}, 422, "max_tokens", "integer"),
    ({"model": "small", "messages": USER, "n": 2}, 422, "n", "less than or equal to 1"),
    ({"model": "small", "messages": USER, "tools": [{"type": "function"}]}, 422, "body", "/v1/run"),
    ({"messages": USER}, 422, "model", "Field required"),
    ({"model": "small", "messages": USER, "response_format": {"type": "xml"}}, 422, "response_format", "json_schema"),
])
def test_bad_fields_are_named_with_what_is_valid(client: TestClient, body: dict, status: int, param: str,
                                                  words: str) -> None:
    r = client.post("/v1/chat/completions", json=body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["param"] == param and words in error["message"], error
    assert error["type"] == "invalid_request_error"


def test_unreadable_or_missing_body_is_400(client: TestClient) -> None:
    r = client.post("/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]
    r = client.post("/v1/chat/completions")
    assert r.status_code == 400 and "missing" in r.json()["error"]["message"]


def test_bad_schema_is_400_not_500(client: TestClient) -> None:
    r = client.post("/v1/chat/completions", json={"model": "small", "messages": USER, "response_format": {
        "type": "json_schema", "json_schema": {"name": "x", "schema": {"title": "no type"}}}})
    assert r.status_code == 400 and "schema" in r.json()["error"]["message"]


def test_unknown_model_is_404_with_the_served_list(client: TestClient) -> None:
    r = client.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": USER})
    assert r.status_code == 404
    error = r.json()["error"]
    assert error["param"] == "model" and error["models"] == ["small"] and "small" in error["message"]


def test_oversized_body_is_413_declared_or_chunked(settings: Settings) -> None:
    client = TestClient(make_app(settings, EchoModel(), max_body_bytes=2048))
    big = {"model": "small", "messages": [{"role": "user", "content": "x" * 5000}]}
    r = client.post("/v1/chat/completions", json=big)
    assert r.status_code == 413 and "2048" in r.json()["error"]["message"]

    def chunks():  # no Content-Length: counted while read
        for _ in range(10):
            yield b"x" * 1000

    r = client.post("/v1/chat/completions", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_internal_fault_is_500_with_error_id_in_log_and_trace(
        settings: Settings, spans: InMemorySpanExporter, caplog: pytest.LogCaptureFixture) -> None:
    client = TestClient(make_app(settings, EchoModel(fail=RuntimeError("secret internal detail"))),
                        raise_server_exceptions=False)
    with caplog.at_level(logging.ERROR, logger="nativa.serve"):
        r = client.post("/v1/chat/completions", json={"model": "small", "messages": USER})
    assert r.status_code == 500
    error = r.json()["error"]
    error_id = error["error_id"]
    assert error_id.startswith("err_") and error_id in error["message"]
    assert "secret internal detail" not in r.text and "Traceback" not in r.text
    assert any(error_id in rec.getMessage() and rec.exc_info for rec in caplog.records)
    tracing.force_flush()
    marked = [s for s in spans.get_finished_spans() if (s.attributes or {}).get("nativa.error_id") == error_id]
    assert marked and format(marked[0].context.trace_id, "032x") == r.headers["x-trace-id"]


def test_request_trace_holds_the_model_span(client: TestClient, spans: InMemorySpanExporter) -> None:
    r = client.post("/v1/chat/completions", json={"model": "small", "messages": USER})
    tracing.force_flush()
    trace = [s for s in spans.get_finished_spans() if format(s.context.trace_id, "032x") == r.headers["x-trace-id"]]
    names = {s.name for s in trace}
    assert {"POST /v1/chat/completions", "chat small"} <= names
    chat = next(s for s in trace if s.name == "chat small")
    assert chat.attributes["gen_ai.usage.output_tokens"] == 3


def test_unknown_route_and_method_use_the_error_shape(client: TestClient) -> None:
    assert client.get("/nope").json()["error"]["type"] == "not_found_error"
    r = client.get("/v1/chat/completions")
    assert r.status_code == 405 and "POST" in r.json()["error"]["message"]


def test_logprobs_come_per_token_in_openai_shape_only_when_asked(client: TestClient, model: EchoModel) -> None:
    """A client reading its answer's confidence (nativa's own intent cascade, with an `openai:` stage pointed
    at this server, does) gets one entry per output token, `top_logprobs` alternatives each."""
    r = client.post("/v1/chat/completions", json={"model": "small", "messages": USER, "logprobs": True,
                                                  "top_logprobs": 1})
    assert r.status_code == 200 and model.options[-1].logprobs
    content = r.json()["choices"][0]["logprobs"]["content"]
    assert [t["token"] for t in content] == ["echo", " hello", " there"]
    first = content[0]
    assert first["logprob"] == pytest.approx(math.log(0.5)) and first["bytes"] == list(b"echo")
    assert [a["token"] for a in first["top_logprobs"]] == ["echo"]  # one asked, two kept
    r = client.post("/v1/chat/completions", json={"model": "small", "messages": USER, "logprobs": True})
    assert r.json()["choices"][0]["logprobs"]["content"][1]["top_logprobs"] == []
    r = client.post("/v1/chat/completions", json={"model": "small", "messages": USER})
    assert r.json()["choices"][0]["logprobs"] is None and not model.options[-1].logprobs


@pytest.mark.parametrize(("extra", "named"), [({"top_logprobs": 2}, "'top_logprobs' needs 'logprobs'"),
                                               ({"logprobs": True, "stream": True}, "'logprobs' with 'stream'"),
                                               ({"logprobs": True, "top_logprobs": 21}, "top_logprobs")])
def test_logprobs_it_cannot_give_are_refused_naming_the_field(client: TestClient, extra: dict[str, Any],
                                                              named: str) -> None:
    r = client.post("/v1/chat/completions", json={"model": "small", "messages": USER, **extra})
    assert r.status_code == 422 and named in r.text
