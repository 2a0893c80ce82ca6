"""A cascade's intent: the small stage's pick stands unless its own token probability says it doubts it."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from support.tracing_fixtures import capture_spans, finished_span

from nativa.config import Settings
from nativa.errors import ServerUnreachableError
from nativa.intent import IntentContext, IntentParser
from nativa.models import ScriptedModel, ScriptedReply
from nativa.models.base import ChatModel
from nativa.models.cascade import CascadeModel

CTX = IntentContext(kinds={"sql", "http", "code"})
REQUEST = "how are we doing this quarter?"


class _Remote(ScriptedModel):
    remote = True


def _reply(kind: str, p: float) -> ScriptedReply:
    """The model picks `kind` with probability p among the allowed kinds, the rest on another one."""
    other = "chat" if kind != "chat" else "code"
    return ScriptedReply(f'{{"kind": "{kind}"}}', logprob=math.log(p),
                         alternatives=((f' "{other}"}}', math.log(1 - p)),) if p < 1 else ())


def _chain(scripts: dict[str, list[ScriptedReply | str]]) -> tuple[CascadeModel, dict[str, ScriptedModel]]:
    built: dict[str, ScriptedModel] = {}

    def factory(stage: str) -> ChatModel:
        model = (_Remote if stage.startswith("openai:") else ScriptedModel)(scripts[stage], name=stage)
        built[stage] = model
        return model

    return CascadeModel(tuple(scripts), factory), built


@pytest.fixture
def spans(tmp_path: Path) -> Iterator[InMemorySpanExporter]:
    yield from capture_spans(tmp_path)


def _cascade_span(exporter: InMemorySpanExporter) -> dict[str, object]:
    return finished_span(exporter, "intent cascade")


def test_a_sure_small_stage_answers_and_the_large_one_is_never_built(spans: InMemorySpanExporter) -> None:
    chain, built = _chain({"small": [_reply("sql", 0.95)], "large": []})
    intent = IntentParser(chain, escalate_below=0.8).parse(REQUEST, CTX)
    assert (intent.kind, intent.stage, intent.escalated, intent.escalation) == ("sql", "small", False, None)
    assert intent.confidence == pytest.approx(0.95)
    assert list(built) == ["small"] and chain.answered["small"] == 1
    attrs = _cascade_span(spans)
    assert attrs["nativa.cascade.escalated"] is False and attrs["nativa.cascade.stage"] == "small"


def test_a_doubtful_small_stage_hands_the_request_on_with_the_reason(spans: InMemorySpanExporter) -> None:
    chain, built = _chain({"small": [_reply("sql", 0.4)], "large": [_reply("http", 0.9)]})
    intent = IntentParser(chain, escalate_below=0.8).parse(REQUEST, CTX)
    assert (intent.kind, intent.stage, intent.escalated) == ("http", "large", True)
    assert intent.escalation == "small: p(sql)=0.40 < 0.80"
    assert built["large"].calls[0][-1].content == REQUEST  # the large stage is asked the same question
    attrs = _cascade_span(spans)
    assert attrs["nativa.cascade.escalated"] is True and attrs["nativa.cascade.reason"] == "low_confidence"
    assert attrs["nativa.cascade.stage"] == "large" and attrs["nativa.cascade.stages"] == "small,large"


def test_the_threshold_comes_from_the_settings() -> None:
    chain, _ = _chain({"small": [_reply("sql", 0.7)], "large": [_reply("code", 0.9)]})
    parser = IntentParser.from_settings(chain, Settings(cascade_intent_threshold=0.6))
    assert parser.parse(REQUEST, CTX).stage == "small"  # 0.7 is sure enough at 0.6
    chain, _ = _chain({"small": [_reply("sql", 0.7)], "large": [_reply("code", 0.9)]})
    assert IntentParser.from_settings(chain, Settings(cascade_intent_threshold=0.75)).parse(REQUEST, CTX).kind == "code"


def test_an_unusable_reply_escalates_and_three_stages_chain(spans: InMemorySpanExporter) -> None:
    chain, built = _chain({"small": ["not json"], "mid": [_reply("code", 0.5)], "large": [_reply("sql", 0.99)]})
    intent = IntentParser(chain, escalate_below=0.8).parse(REQUEST, CTX)
    assert (intent.kind, intent.stage) == ("sql", "large") and list(built) == ["small", "mid", "large"]
    assert intent.escalation == "small: no usable answer; mid: p(code)=0.50 < 0.80"
    assert _cascade_span(spans)["nativa.cascade.reason"] == "no_answer,low_confidence"


def test_a_later_stage_that_fails_leaves_the_earlier_usable_pick_standing(spans: InMemorySpanExporter) -> None:
    chain, _ = _chain({"small": [_reply("sql", 0.6)], "large": [ServerUnreachableError("large is down")]})
    intent = IntentParser(chain, escalate_below=0.8).parse(REQUEST, CTX)
    assert (intent.kind, intent.stage, intent.escalated, intent.source) == ("sql", "small", False, "model")
    assert intent.escalation == "small: p(sql)=0.60 < 0.80; large: no usable answer; small's pick stands"
    assert _cascade_span(spans)["nativa.cascade.stage"] == "small"


def test_the_last_stage_in_doubt_asks_back_rather_than_guessing() -> None:
    chain, _ = _chain({"small": [_reply("sql", 0.3)], "large": [_reply("http", 0.2)]})
    intent = IntentParser(chain, escalate_below=0.8).parse(REQUEST, CTX)
    assert intent.kind == "unclear" and intent.stage == "large" and intent.question


def test_a_request_with_personal_data_never_reaches_a_remote_stage(spans: InMemorySpanExporter) -> None:
    chain, built = _chain({"small": [_reply("sql", 0.4)], "openai:gpt-4o-mini": [_reply("http", 0.99)]})
    intent = IntentParser(chain, escalate_below=0.8).parse("what did ana.lima@example.com order?", CTX)
    assert intent.stage == "small" and not intent.escalated and "openai:gpt-4o-mini" not in built
    assert intent.escalation and "skipped (sensitive: email)" in intent.escalation
    attrs = _cascade_span(spans)
    assert attrs["nativa.cascade.privacy"] == "kept_local" and "ana.lima" not in str(attrs)


def test_a_model_without_logprobs_gives_no_evidence_to_escalate_on() -> None:
    class NoLogprobs(ScriptedModel):
        def complete(self, messages, options=None):  # type: ignore[no-untyped-def]
            completion = super().complete(messages, options)
            completion.logprobs = None
            return completion

    chain = CascadeModel(("small", "large"), lambda stage: NoLogprobs(['{"kind": "code"}'], name=stage))
    intent = IntentParser(chain, escalate_below=0.8).parse(REQUEST, CTX)
    assert (intent.kind, intent.stage, intent.confidence) == ("code", "small", 0.5)
