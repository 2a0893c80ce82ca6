"""The OpenAI-compatible model against a real HTTP server on loopback (real client, real wire format)."""

from __future__ import annotations

import pytest
from support.openai_server import ServerScript, StandInServer, free_port

from nativa.errors import ModelNotFoundError, ServerUnreachableError
from nativa.models import GenerationOptions, OpenAICompatibleModel
from nativa.models.base import collect


def _model(url: str, retries: int = 3, name: str = "stand-in") -> OpenAICompatibleModel:
    return OpenAICompatibleModel(name, base_url=url, api_key="k", timeout_s=5, max_retries=retries)


@pytest.mark.integration  # a real server on loopback
def test_completion_with_usage_from_the_server() -> None:
    with StandInServer(ServerScript()) as srv:
        c = _model(srv.url).complete("reverse a string", GenerationOptions(max_tokens=50))
    assert c.text == "def reverse(s):\n    return s[::-1]"
    assert (c.input_tokens, c.output_tokens, c.finish_reason) == (7, len(c.text.split(" ")), "stop")
    assert srv.script.requests[0]["max_tokens"] == 50


@pytest.mark.integration  # a real server on loopback
def test_retries_429_and_500_then_succeeds() -> None:
    script = ServerScript(statuses=[429, 500, 503])
    with StandInServer(script) as srv:
        c = _model(srv.url, retries=3).complete("hi")
    assert c.text.startswith("def reverse")
    assert len(script.requests) == 4  # three failures retried, the fourth answered


@pytest.mark.integration  # a real server on loopback
def test_gives_up_after_retries_with_a_clear_error() -> None:
    script = ServerScript(statuses=[500] * 10)
    with StandInServer(script) as srv, pytest.raises(ServerUnreachableError, match="HTTP 500 after retries"):
        _model(srv.url, retries=2).complete("hi")
    assert len(script.requests) == 3


def test_unreachable_server() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(ServerUnreachableError, match="unreachable"):
        _model(url, retries=0).complete("hi")


@pytest.mark.integration  # a real server on loopback
def test_unknown_model_is_404_not_a_retry() -> None:
    script = ServerScript()
    with StandInServer(script) as srv, pytest.raises(ModelNotFoundError, match="does not serve model 'nope'"):
        _model(srv.url, name="nope").complete("hi")
    assert len(script.requests) == 1


@pytest.mark.integration  # a real server on loopback
def test_streaming_matches_blocking_and_reports_usage() -> None:
    with StandInServer(ServerScript()) as srv:
        m = _model(srv.url)
        deltas = list(m.stream("hi"))
        blocking = m.complete("hi")
    streamed = collect(deltas)
    assert "".join(d.text for d in deltas) == streamed.text == blocking.text
    assert streamed.output_tokens == blocking.output_tokens == len(blocking.text.split(" "))
    assert streamed.time_to_first_token_s is not None


@pytest.mark.integration  # a real server on loopback
def test_json_schema_is_sent_as_response_format() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    script = ServerScript(reply='{"a": 1}')
    with StandInServer(script) as srv:
        c = _model(srv.url).complete("x", GenerationOptions(json_schema=schema))
    assert c.json() == {"a": 1}
    assert script.requests[0]["response_format"]["json_schema"]["schema"] == schema


@pytest.mark.integration  # a real server on loopback
def test_logprobs_are_asked_for_and_read_blocking_and_streamed() -> None:
    script = ServerScript(reply='{"kind": "sql"}', logprob=-0.25)
    opts = GenerationOptions(logprobs=True)
    with StandInServer(script) as srv:
        m = _model(srv.url)
        blocking = m.complete("x", opts)
        streamed = collect(list(m.stream("x", opts)))
        plain = m.complete("x")
    assert script.requests[0]["logprobs"] is True and script.requests[0]["top_logprobs"] == 10
    assert "logprobs" not in script.requests[2] and plain.logprobs is None
    for c in (blocking, streamed):
        assert c.logprobs is not None and "".join(t.text for t in c.logprobs) == c.text
        assert all(t.logprob == -0.25 and t.top == ((t.text, -0.25),) for t in c.logprobs)


@pytest.mark.integration  # a real server on loopback
def test_a_server_that_refuses_logprobs_is_asked_again_without_them_once() -> None:
    script = ServerScript(reply='{"kind": "sql"}', refuse_logprobs=True)
    opts = GenerationOptions(logprobs=True)
    with StandInServer(script) as srv:
        m = _model(srv.url, retries=0)
        first, second = m.complete("x", opts), m.complete("x", opts)
    assert first.text == second.text == '{"kind": "sql"}'
    assert first.logprobs is None and second.logprobs is None  # unknown, not a failure
    assert ["logprobs" in r for r in script.requests] == [True, False, False]  # refused once, then not asked


@pytest.mark.integration  # a real server on loopback
def test_a_stream_with_a_chunk_missing_its_logprobs_gives_none_rather_than_a_partial_list() -> None:
    script = ServerScript(reply='{"kind": "sql"}', logprob=-0.1, stream_without_logprobs=1)
    with StandInServer(script) as srv:
        streamed = collect(list(_model(srv.url).stream("x", GenerationOptions(logprobs=True))))
    assert streamed.text == '{"kind": "sql"}' and streamed.logprobs is None
