"""The context builder under tight budgets, with the scripted model (tokens = words) and the word-hash
embedder: it keeps the newest turns, recalls old facts, summarises once and stores the summary."""

from __future__ import annotations

from typing import Any

import pytest

from nativa import tracing
from nativa.errors import BadInputError
from nativa.memory import Memory
from nativa.memory.context import MESSAGE_OVERHEAD, ContextBuilder, build_context
from nativa.models import ScriptedModel
from nativa.models.scripted import ScriptExhausted


def _chat(memory: Memory, turns: int, first_fact: str | None = None) -> None:
    memory.session("long", create=True)
    if first_fact:
        memory.add_turn("long", [("user", first_fact), ("assistant", "Noted.")])
    for i in range(turns):
        memory.add_turn("long", [("user", f"filler question number {i} about the weather and trains"),
                                 ("assistant", f"filler answer number {i} with several more words in it")])


def test_a_short_history_goes_in_whole_without_asking_the_model(sqlite_memory: Memory) -> None:
    _chat(sqlite_memory, 2)
    model = ScriptedModel([])  # any model call would raise ScriptExhausted
    context = build_context(sqlite_memory.session("long"), "and tomorrow?", model=model, memory=sqlite_memory,
                            budget_tokens=400)
    assert [m.role for m in context.messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert context.messages[-1].content.endswith("and tomorrow?")
    assert context.summary is None and context.summarized == 0 and len(context.recent) == 4
    assert context.tokens <= 400
    assert context.tokens == sum(model.count_tokens(m.content) + MESSAGE_OVERHEAD for m in context.messages) + 3


def test_a_long_history_is_summarised_once_and_the_summary_is_reused(sqlite_memory: Memory) -> None:
    _chat(sqlite_memory, 30, first_fact="my dog is named Rex and he is three years old")
    session = sqlite_memory.session("long")
    model = ScriptedModel(["The user has a dog named Rex, three years old; they chatted about weather."])
    first = build_context(session, "what is my dog called?", model=model, memory=sqlite_memory, budget_tokens=300)
    assert first.tokens <= 300
    assert first.summarized > 0 and first.summary is not None and "Rex" in first.summary.content
    assert len(model.calls) == 1 and "my dog is named Rex" in model.calls[0][0].content  # the oldest turns
    assert "Summary of the earlier conversation" in first.messages[0].content
    newest = sqlite_memory.messages(session)[-1]
    assert first.recent[-1].id == newest.id  # the most recent turns stay verbatim
    stored = sqlite_memory.sessions.latest_summary(session)
    assert stored is not None and stored.upto_message_id == first.summary.upto_message_id

    again = build_context(session, "what is my dog called?", model=ScriptedModel([]), memory=sqlite_memory,
                          budget_tokens=300)  # nothing new to fold: no model call at all
    assert again.summarized == 0 and again.summary is not None and again.summary.id == first.summary.id
    assert [m.id for m in again.recent] == [m.id for m in first.recent]


def test_a_few_more_turns_fit_without_another_summary(sqlite_memory: Memory) -> None:
    _chat(sqlite_memory, 30)
    session = sqlite_memory.session("long")
    build_context(session, "q", model=ScriptedModel(["summary of the weather talk"]), memory=sqlite_memory,
                  budget_tokens=300)
    sqlite_memory.add_turn(session, [("user", "one more"), ("assistant", "sure")])
    context = build_context(session, "q", model=ScriptedModel([]), memory=sqlite_memory, budget_tokens=300)
    assert context.summarized == 0 and context.recent[-1].content == "sure"


def test_an_old_fact_is_recalled_with_its_score(sqlite_memory: Memory) -> None:
    _chat(sqlite_memory, 30, first_fact="my dog is named Rex")
    model = ScriptedModel(["a summary that forgot the dog"])
    context = build_context(sqlite_memory.session("long"), "what is my dog named", model=model,
                            memory=sqlite_memory, budget_tokens=300)
    assert context.recalled and context.recalled[0].item.text == "my dog is named Rex"
    assert context.recalled[0].score > 0.3
    last = context.messages[-1].content
    assert "Facts I remember" in last and "- my dog is named Rex" in last and last.endswith("what is my dog named")
    assert context.parts["memories"] > 0 and context.tokens <= 300


def test_a_memory_already_in_the_recent_turns_is_not_repeated(sqlite_memory: Memory) -> None:
    sqlite_memory.session("short", create=True)
    sqlite_memory.add_turn("short", [("user", "my dog is named Rex"), ("assistant", "Nice.")])
    context = build_context(sqlite_memory.session("short"), "what is my dog named", model=ScriptedModel([]),
                            memory=sqlite_memory, budget_tokens=300)
    assert context.recalled == [] and context.messages[-1].content == "what is my dog named"


def test_a_message_over_the_budget_is_bad_input(sqlite_memory: Memory) -> None:
    session = sqlite_memory.session("s", create=True)
    with pytest.raises(BadInputError, match="over the context budget of 100"):
        build_context(session, "word " * 200, model=ScriptedModel([]), memory=sqlite_memory, budget_tokens=100)
    with pytest.raises(BadInputError, match="at least 64"):
        ContextBuilder(sqlite_memory, ScriptedModel([]), budget_tokens=10)


def test_the_budget_defaults_to_the_context_window_minus_the_reply(sqlite_memory: Memory) -> None:
    model: Any = ScriptedModel([])
    model.n_ctx = 2048
    assert ContextBuilder(sqlite_memory, model, reply_tokens=256).budget == 2048 - 256


def test_spans_say_what_was_recalled_summarised_and_counted(sqlite_memory: Memory, exporter: Any) -> None:
    _chat(sqlite_memory, 30, first_fact="my dog is named Rex")
    with tracing.span("test root"):
        build_context(sqlite_memory.session("long"), "what is my dog named", model=ScriptedModel(["short summary"]),
                      memory=sqlite_memory, budget_tokens=300)
    assert tracing.force_flush(10.0)
    spans = {s.name: s for s in exporter.get_finished_spans()}
    ctx, recall, summarize = spans["memory.context"], spans["memory.recall"], spans["memory.summarize"]
    assert recall.parent is not None and recall.parent.span_id == ctx.context.span_id
    assert recall.attributes["nativa.memory.recalled"] >= 1 and len(recall.attributes["nativa.memory.scores"]) >= 1
    assert summarize.attributes["nativa.memory.messages"] > 0
    assert summarize.attributes["nativa.prompt.file"] == "summarize.txt"
    assert ctx.attributes["nativa.memory.context_tokens"] <= 300
    assert ctx.attributes["nativa.memory.summarized_now"] > 0 and ctx.attributes["nativa.memory.tokens.summary"] > 0
    assert any(name.startswith("chat ") for name in spans)  # the summary's own model call


def test_a_failing_summary_call_stores_nothing(sqlite_memory: Memory) -> None:
    _chat(sqlite_memory, 30)
    session = sqlite_memory.session("long")
    with pytest.raises(ScriptExhausted):
        build_context(session, "q", model=ScriptedModel([]), memory=sqlite_memory, budget_tokens=300)
    assert sqlite_memory.sessions.latest_summary(session) is None
