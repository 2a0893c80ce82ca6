"""`complete_many` on every model that does not need the embedded weights, and its traced wrapper."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from support.fake_batch import FakeBatchingModel
from support.openai_server import ServerScript, StandInServer
from support.tracing_fixtures import _no_otel_env, capture_spans  # noqa: F401  (autouse pytest fixture)
from support.waiting import wait_for

from nativa import tracing
from nativa.errors import BadInputError
from nativa.models import GenerationOptions, OpenAICompatibleModel, ScriptedModel
from nativa.models.base import ChatModel
from nativa.models.traced import traced_complete_many
from nativa.serve.jobs import CancellableModel, Cancelled, JobControl

HOT = GenerationOptions(max_tokens=32, temperature=0.8, seed=40)


@pytest.fixture
def spans(tmp_path: Path) -> Iterator[InMemorySpanExporter]:
    yield from capture_spans(tmp_path / "home", trace_content=True)


def _models(srv: StandInServer) -> list[ChatModel]:
    return [ScriptedModel(["a b", "c d e", "f"]),
            OpenAICompatibleModel("stand-in", base_url=srv.url, api_key="k", timeout_s=5, max_retries=0),
            FakeBatchingModel(max_batch=4)]


@pytest.mark.integration  # a stand-in OpenAI server on loopback
def test_every_model_returns_n_completions_with_their_own_counts() -> None:
    with StandInServer(ServerScript()) as srv:
        for model in _models(srv):
            out = model.complete_many("reverse a string", HOT, n=3)
            assert len(out) == 3, model.name
            assert all(c.text and c.output_tokens > 0 and c.input_tokens > 0 for c in out), model.name
            assert len({c.input_tokens for c in out}) == 1, model.name  # the prompt's count on each
            with pytest.raises(BadInputError, match="n must be"):
                model.complete_many("x", HOT, n=0)


def test_scripted_model_gives_the_next_n_replies_with_seed_plus_i() -> None:
    model = ScriptedModel(["one", "two", "three", "four"])
    out = model.complete_many("task", HOT, n=3)
    assert [c.text for c in out] == ["one", "two", "three"]
    assert [o.seed for o in model.options] == [40, 41, 42]
    assert model.remaining == 1


@pytest.mark.integration  # a stand-in OpenAI server on loopback
def test_openai_model_sends_one_request_per_sample_each_with_its_seed() -> None:
    script = ServerScript()
    with StandInServer(script) as srv:
        model = OpenAICompatibleModel("stand-in", base_url=srv.url, api_key="k", timeout_s=5, max_retries=0)
        model.complete_many("task", HOT, n=3)
        assert sorted(r["seed"] for r in script.requests) == [40, 41, 42]
        assert {r["temperature"] for r in script.requests} == {0.8}
        script.requests.clear()
        greedy = model.complete_many("task", GenerationOptions(max_tokens=8, temperature=0.0), n=4)
    assert len(script.requests) == 1  # greedy: all n are the same answer, asked for once
    assert len(greedy) == 4 and len({c.text for c in greedy}) == 1
    assert len({id(c) for c in greedy}) == 4  # copies, so a caller may change one without the others


def test_batching_model_draws_each_sample_with_its_own_seed() -> None:
    out = FakeBatchingModel(max_batch=4).complete_many("hi", HOT, n=3)
    assert [c.text for c in out] == ["echo hi#40", "echo hi#41", "echo hi#42"]


def test_traced_complete_many_is_one_span_with_n_and_summed_tokens(spans: InMemorySpanExporter) -> None:
    model = ScriptedModel(["a b", "c d e", "f"])
    out = traced_complete_many(model, "task", HOT, 3, prompt_file="code.yaml", prompt_hash="abc")
    assert tracing.force_flush(timeout_s=10.0)
    (span,) = [s for s in spans.get_finished_spans() if s.name.startswith("chat ")]
    attrs = span.attributes or {}
    assert attrs["gen_ai.request.choice.count"] == 3
    assert attrs["gen_ai.usage.output_tokens"] == sum(c.output_tokens for c in out) == 6
    assert attrs["gen_ai.usage.input_tokens"] == out[0].input_tokens
    assert list(attrs["gen_ai.response.finish_reasons"]) == ["stop", "stop", "stop"]
    assert attrs["nativa.prompt.hash"] == "abc"
    messages = json.loads(str(attrs["gen_ai.output.messages"]))
    assert [m["parts"][0]["content"] for m in messages] == ["a b", "c d e", "f"]


def test_a_cancelled_job_gets_no_candidates() -> None:
    control = JobControl()
    model = CancellableModel(ScriptedModel(["a", "b"]), control)
    assert [c.text for c in model.complete_many("task", HOT, n=2)] == ["a", "b"]
    control.cancel("disconnect")
    with pytest.raises(Cancelled):
        model.complete_many("task", HOT, n=2)


def test_cancelling_a_job_mid_draw_drops_its_sequences_from_the_batch() -> None:
    control = JobControl()
    inner = FakeBatchingModel(max_batch=4, step_delay_s=0.01, reply="x" * 400)
    model = CancellableModel(inner, control)
    threading.Timer(0.2, control.cancel, args=("disconnect",)).start()
    with pytest.raises(Cancelled):
        model.complete_many("task", GenerationOptions(max_tokens=400, temperature=0.8, seed=1), n=3)
    assert wait_for(lambda: inner.batch_running == 0)
    assert len(inner.backend.steps) < 300  # it stopped; it did not decode 400 tokens for nobody
    assert [c.text for c in inner.complete_many("again", GenerationOptions(max_tokens=5), n=2)] == ["xxxxx"] * 2
