"""Intent: rules first (configurable), then schema words, then a schema-constrained model; unclear asks back."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from pydantic import ValidationError

from nativa.data import sample_db_url
from nativa.errors import BadInputError
from nativa.intent import DEFAULT_RULES, Intent, IntentContext, IntentParser, Rule, load_rules
from nativa.intent.parser import value_probability
from nativa.models import Completion, ScriptedModel, ScriptedReply, TokenLogprob
from nativa.tools import tool
from nativa.tools.sql import SQLDatabase

ALL = IntentContext(kinds={"sql", "http", "code"}, keywords={"customers", "orders", "region", "total", "name"})


@pytest.mark.parametrize(("text", "kind", "arguments", "direct"), [
    ("SELECT COUNT(*) FROM orders;", "sql", {"query": "SELECT COUNT(*) FROM orders"}, True),
    ("with x as (select 1) select * from x", "sql", {"query": "with x as (select 1) select * from x"}, True),
    ("run this:\n```python\nprint(2 ** 10)\n```", "code", {"code": "print(2 ** 10)"}, True),
    ("What does https://api.example.com/v1/rates?base=EUR say?", "http",
     {"url": "https://api.example.com/v1/rates?base=EUR"}, False),
    ("hello!", "chat", {}, False),
    ("Thanks", "chat", {}, False),
    ("help", "unclear", {}, False),
    ("do it", "unclear", {}, False),
    ("???", "unclear", {}, False),
    ("", "unclear", {}, False),
])
def test_default_rules(text: str, kind: str, arguments: dict[str, str], direct: bool) -> None:
    model = ScriptedModel([])  # rules must decide without the model
    intent = IntentParser(model).parse(text, ALL)
    assert (intent.kind, intent.arguments, intent.direct, intent.source) == (kind, arguments, direct, "rule")
    if kind == "unclear":
        assert intent.needs_clarification and intent.question and "?" in intent.question
    assert model.calls == []


def test_select_in_plain_english_is_not_taken_for_sql() -> None:
    intent = IntentParser().parse("select the best region for a new store?", ALL)
    assert intent.kind == "sql" and not intent.direct and intent.rule and intent.rule.startswith("schema words")


def test_schema_words_route_database_questions_without_a_model() -> None:
    database = SQLDatabase(sample_db_url())
    try:
        ctx = IntentContext.from_tools([database.as_tool()])
    finally:
        database.close()
    parser = IntentParser(ScriptedModel([]))
    intent = parser.parse("which region sold most in 2024?", ctx)
    assert intent.kind == "sql" and intent.rule == "schema words: region" and 0.6 < intent.confidence < 1
    assert parser.parse("How many customers signed up in 2023?", ctx).kind == "sql"
    # 'total' alone is an everyday word: no rule decides, so the model would be asked
    assert IntentParser().parse("what is the total of 2 and 3?", ctx).kind == "tool"


def test_the_model_decides_under_a_schema_when_no_rule_matches() -> None:
    model = ScriptedModel([ScriptedReply('{"kind": "http"}', logprob=math.log(0.4),
                                         alternatives=((' "sql"}', math.log(0.1)), (' "hello"}', math.log(0.5))))])
    ctx = IntentContext(kinds={"sql", "http"})
    intent = IntentParser(model).parse("what's new on the status page", ctx)
    assert (intent.kind, intent.source, intent.stage) == ("http", "model", None)
    assert intent.confidence == pytest.approx(0.8)
    schema = model.options[0].json_schema
    assert schema is not None and schema["properties"]["kind"]["enum"] == ["http", "sql", "chat", "unclear"]
    assert schema["required"] == ["kind"] and model.options[0].logprobs  # the confidence is not the model's to write
    assert "- http: read a web page or API" in model.calls[0][0].content


def test_the_confidence_is_the_probability_of_the_value_tokens_only() -> None:
    # The grammar writes the braces and the key; only the tokens that spell the value are the model's choice.
    completion = Completion(text='{"kind": "sql"}', finish_reason="stop", input_tokens=1, output_tokens=5,
                            latency_s=0.0, model="m", logprobs=[
                                TokenLogprob('{"', -3.0), TokenLogprob("kind", -2.0), TokenLogprob('":', -1.0),
                                TokenLogprob(' "', -1.0), TokenLogprob("s", math.log(0.6)),
                                TokenLogprob("ql", math.log(0.5)), TokenLogprob('"}', -4.0)])
    assert value_probability(completion, "sql") == pytest.approx(0.3)
    # over what the schema allowed: 's' beat 'c' (of chat or code) 0.6 to 0.2, 'ql' had no rival
    allowed = Completion(text='{"kind": "sql"}', finish_reason="stop", input_tokens=1, output_tokens=4,
                         latency_s=0.0, model="m", logprobs=[
                             TokenLogprob('{"kind":"', -3.0), TokenLogprob("s", math.log(0.6), (("s", math.log(0.6)),
                                                                  ("c", math.log(0.2)), ("x", math.log(0.2)))),
                             TokenLogprob("ql", math.log(0.5), (("ql", math.log(0.5)), ("ugar", math.log(0.5)))),
                             TokenLogprob('"}', -4.0)])
    assert value_probability(allowed, "sql", ["sql", "chat", "code"]) == pytest.approx(0.75)
    assert value_probability(completion, "http") is None
    # a token that opens the value: other spacing still opens a value, a bare quote commits to none, and two
    # token ids with the same text both count
    opening = Completion(text='{"kind": "sql"}', finish_reason="stop", input_tokens=1, output_tokens=3,
                         latency_s=0.0, model="m", logprobs=[
                             TokenLogprob('{"kind":', -1.0),
                             TokenLogprob(' "sql', math.log(0.4), ((' "sql', math.log(0.4)), ('"code', math.log(0.2)),
                                                                   (' "', math.log(0.2)), (' "chat', math.log(0.1)),
                                                                   (' "chat', math.log(0.1)))),
                             TokenLogprob('"}', -4.0)])
    assert value_probability(opening, "sql", ["sql", "chat", "code"]) == pytest.approx(0.4 / 0.8)
    assert value_probability(Completion("{}", "stop", 1, 1, 0.0, "m"), "sql") is None  # no logprobs given


@pytest.mark.parametrize("reply", [ScriptedReply('{"kind": "unclear"}', logprob=math.log(0.9)),
                                   ScriptedReply('{"kind": "sql"}', logprob=math.log(0.2),
                                                 alternatives=((' "chat"}', math.log(0.8)),))])
def test_unclear_or_unsure_model_answers_become_a_clarifying_question(reply: ScriptedReply) -> None:
    ctx = IntentContext.from_tools([_noop_sql_tool()])
    intent = IntentParser(ScriptedModel([reply])).parse("that thing from before", ctx)
    assert intent.kind == "unclear" and intent.source == "model"
    assert intent.question and "answered from the database" in intent.question


def test_a_broken_model_reply_falls_back_to_letting_the_agent_decide() -> None:
    intent = IntentParser(ScriptedModel(["not json"])).parse("what's up with the numbers", ALL)
    assert intent.kind == "tool" and intent.source == "default"
    assert IntentParser().parse("what's up with the numbers", ALL).kind == "tool"  # no model at all


def test_rules_are_configurable_and_a_rule_for_an_unavailable_kind_is_skipped(tmp_path: Path) -> None:
    custom = Rule(name="weather", pattern=r"\bweather in (?P<city>\w+)", kind="tool", confidence=0.8)
    parser = IntentParser(rules=[custom, *DEFAULT_RULES])
    intent = parser.parse("What's the weather in Oslo?", ALL)
    assert intent.kind == "tool" and intent.arguments == {"city": "Oslo"} and intent.rule == "weather"
    # a URL with no HTTP tool available is not routed to http
    only_sql = IntentContext(kinds={"sql"}, keywords={"orders"})
    assert parser.parse("compare orders with https://example.com/stats", only_sql).kind == "sql"
    path = tmp_path / "rules.json"
    path.write_text(json.dumps([{"name": "ping", "pattern": "^ping$", "kind": "chat"}]))
    assert load_rules(path)[0].name == "ping"
    path.write_text(json.dumps([{"name": "bad", "pattern": "(", "kind": "chat"}]))
    with pytest.raises(BadInputError, match="rule 0 .* not a valid regular expression"):
        load_rules(path)
    path.write_text(json.dumps([{"name": "bad", "pattern": "x", "kind": "poetry"}]))
    with pytest.raises(BadInputError, match="kind"):
        load_rules(path)


def test_intent_validation() -> None:
    with pytest.raises(ValidationError, match="clarifying question"):
        Intent(kind="unclear", confidence=0.5)
    with pytest.raises(ValidationError):
        Intent(kind="sql", confidence=1.5)
    with pytest.raises(ValidationError, match="direct"):
        Intent(kind="chat", confidence=1.0, direct=True)


def _noop_sql_tool():  # type: ignore[no-untyped-def]
    @tool(kind="sql")
    def sql(query: str) -> str:
        """Run SQL."""
        return ""

    return sql
