"""The ToolAgent loop with a scripted model: each test scripts what a model would reply at each step."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from nativa.agent.tool_agent import ToolAgent, ToolAgentResult, ToolStep
from nativa.data import sample_db_url
from nativa.errors import BadInputError, ModelError
from nativa.intent import Intent
from nativa.models import ScriptedModel
from nativa.tools import Tool, tool
from nativa.tools.sql import SQLDatabase


def call(name: str, **arguments: Any) -> str:
    return json.dumps({"tool": name, "arguments": arguments})


def final(answer: str) -> str:
    return call("final_answer", answer=answer)


@pytest.fixture(scope="module")
def sql() -> Iterator[Tool]:
    database = SQLDatabase(sample_db_url())
    yield database.as_tool()
    database.close()


@tool
def weather(city: str) -> str:
    """Current weather in a city."""
    if city.lower() != "oslo":
        raise ValueError(f"no weather data for {city!r}; known cities: Oslo")
    return "Oslo: 4 °C, rain"


@tool(kind="http")
def fetch(url: str) -> str:
    """Fetch a URL."""
    return f"fetched {url}"


def test_answers_from_a_tool_result_and_reports_every_step(sql: Tool) -> None:
    model = ScriptedModel([call("sql", query="SELECT COUNT(*) AS n FROM customers"), final("240 customers")])
    result = ToolAgent(model, [sql]).run("How many customers are there?")
    assert isinstance(result, ToolAgentResult) and result.answer == "240 customers"
    assert result.stop_reason == "final_answer" and result.model_calls == 2
    (step,) = result.steps
    assert isinstance(step, ToolStep) and step.tool == "sql" and step.error is None
    assert step.arguments == {"query": "SELECT COUNT(*) AS n FROM customers"} and step.observation == "n\n240\n(1 row)"
    data = result.to_dict()
    assert {"answer", "steps", "trace_id"} <= set(data)
    assert {"tool", "arguments", "observation", "error"} <= set(data["steps"][0])
    json.dumps(data)  # JSON-safe
    # the observation went back to the model with the question
    feedback = model.calls[1][-1].content
    assert "Result of sql:\nn\n240" in feedback and "How many customers are there?" in feedback


def test_each_step_is_constrained_to_the_tools_and_first_step_must_use_one(sql: Tool) -> None:
    model = ScriptedModel([call("sql", query="SELECT 1 FROM customers LIMIT 1"), final("done")])
    ToolAgent(model, [sql, weather]).run("anything?")
    first, second = (o.json_schema for o in model.options)
    assert first is not None and second is not None
    assert [b["properties"]["tool"]["const"] for b in first["anyOf"]] == ["sql", "weather"]
    assert [b["properties"]["tool"]["const"] for b in second["anyOf"]] == ["sql", "weather", "final_answer"]
    branch = first["anyOf"][0]["properties"]["arguments"]
    assert branch["required"] == ["query"] and branch["additionalProperties"] is False
    system = model.calls[0][0].content
    assert "- sql(query: string)" in system and "- weather(city: string)" in system
    assert "TABLE customers (" in system and "final_answer(answer: string)" in system


def test_sql_error_goes_back_with_a_hint_and_the_model_repairs(sql: Tool) -> None:
    model = ScriptedModel([
        call("sql", query="SELECT region, SUM(total) FROM orders GROUP BY region"),
        call("sql", query="SELECT c.region, ROUND(SUM(o.total), 2) AS s FROM orders o JOIN customers c ON c.id = "
                          "o.customer_id WHERE o.order_date LIKE '2024%' GROUP BY c.region ORDER BY s DESC LIMIT 1"),
        final("West"),
    ])
    result = ToolAgent(model, [sql]).run("which region sold most in 2024?")
    assert result.answer == "West" and [s.error is None for s in result.steps] == [False, True]
    assert "no such column: region" in (result.steps[0].error or "")
    repair_prompt = model.calls[1][-1].content
    assert repair_prompt.startswith("The sql call failed:")
    assert "add JOIN customers ON customers.id = orders.customer_id" in repair_prompt
    assert result.steps[1].observation.splitlines()[1] == "West | 219389.05"


def test_validation_errors_and_tool_exceptions_are_observations() -> None:
    model = ScriptedModel([call("weather", town="Oslo"), call("weather", city="Paris"), call("weather", city="Oslo"),
                           final("4 °C and rain")])
    result = ToolAgent(model, [weather]).run("weather in Oslo?")
    assert result.answer == "4 °C and rain"
    bad_args, failed, ok = result.steps
    assert "'city' is required" in (bad_args.error or "") and "'town' is not an argument" in (bad_args.error or "")
    assert "no weather data for 'Paris'" in (failed.error or "") and ok.observation == "Oslo: 4 °C, rain"


def test_unusable_replies_from_a_model_that_ignores_the_schema() -> None:
    model = ScriptedModel(["I think it will rain.", call("forecast", city="Oslo"),
                           'Sure! ```json\n{"tool": "weather", "arguments": {"city": "Oslo"}}\n```', final("rain")])
    result = ToolAgent(model, [weather]).run("weather in Oslo?")
    assert result.answer == "rain"
    prose, unknown, fenced = result.steps
    assert "not a JSON object" in (prose.error or "")
    assert "unknown tool 'forecast'; valid tools: weather, final_answer" in (unknown.error or "")
    assert fenced.error is None and fenced.observation == "Oslo: 4 °C, rain"  # prose around JSON tolerated


def test_max_steps_then_one_last_turn_constrained_to_final_answer(sql: Tool) -> None:
    queries = [call("sql", query=f"SELECT {i} FROM customers LIMIT 1") for i in range(3)]
    model = ScriptedModel([*queries, final("best guess: 2")])
    result = ToolAgent(model, [sql], max_steps=3).run("something hard")
    assert len(result.steps) == 3 and result.answer == "best guess: 2" and result.stop_reason == "max_steps"
    last_schema = model.options[-1].json_schema
    assert last_schema is not None and last_schema["properties"]["tool"]["const"] == "final_answer"
    assert "No more tool calls are possible" in model.calls[-1][-1].content


def test_no_answer_is_made_up_when_no_call_ever_worked(sql: Tool) -> None:
    model = ScriptedModel([call("sql", query=f"SELECT nope{i} FROM customers") for i in range(2)])
    result = ToolAgent(model, [sql], max_steps=2).run("something")
    assert result.answer is None and result.stop_reason == "max_steps" and model.remaining == 0


def test_repeating_a_call_that_worked_leads_to_the_answer(sql: Tool) -> None:
    same = call("sql", query="SELECT COUNT(*) FROM products")
    model = ScriptedModel([same, same, final("32")])
    result = ToolAgent(model, [sql]).run("How many products?")
    assert result.answer == "32" and result.stop_reason == "final_answer"
    assert result.steps[1].error == "repeated call"  # not run twice
    assert model.options[-1].json_schema["properties"]["tool"]["const"] == "final_answer"  # type: ignore[index]
    last_turn = model.calls[-1]
    assert "Latest result:\nCOUNT(*)\n32" in last_turn[-1].content  # the result restated next to the answer
    assert not any("failed" in m.content for m in last_turn if m.role == "user")


def test_repeating_a_failed_call_restarts_then_stops(sql: Tool) -> None:
    bad = call("sql", query="SELECT region FROM orders")
    model = ScriptedModel([bad, bad, bad])
    result = ToolAgent(model, [sql]).run("which region?")
    assert result.answer is None and result.stop_reason == "repeated_error" and len(result.steps) == 3
    restart = model.calls[2]
    assert len(restart) == 2 and restart[0].role == "system"  # a fresh start, not the same context again
    assert "An earlier call failed:" in restart[1].content and "no such column: region" in restart[1].content
    assert "SELECT region FROM orders" in restart[1].content
    assert restart[1].content.startswith("which region?")


def test_model_failure_ends_the_run_with_the_error() -> None:
    model = ScriptedModel([ModelError("llama.cpp crashed")])
    result = ToolAgent(model, [weather]).run("weather?")
    assert result.stop_reason == "model_error" and result.answer is None
    assert "llama.cpp crashed" in (result.steps[0].error or "")


def test_intent_unclear_asks_back_without_a_model_call() -> None:
    model = ScriptedModel([])
    intent = Intent(kind="unclear", confidence=0.9, question="What should I look up?")
    result = ToolAgent(model, [weather]).run("do it", intent=intent)
    assert result.answer is None and result.clarification == "What should I look up?"
    assert result.stop_reason == "clarify" and model.calls == []


def test_direct_intent_runs_the_call_without_the_model(sql: Tool) -> None:
    model = ScriptedModel([])
    intent = Intent(kind="sql", arguments={"query": "SELECT COUNT(*) FROM orders"}, confidence=1.0, direct=True)
    result = ToolAgent(model, [sql, weather]).run("SELECT COUNT(*) FROM orders", intent=intent)
    assert result.stop_reason == "direct" and result.answer == "COUNT(*)\n4199\n(1 row)" and model.calls == []


def test_a_failing_direct_call_hands_over_to_the_model(sql: Tool) -> None:
    model = ScriptedModel([call("sql", query="SELECT COUNT(*) FROM orders"), final("4199")])
    intent = Intent(kind="sql", arguments={"query": "SELECT COUNT(*) FROM order"}, confidence=1.0, direct=True)
    result = ToolAgent(model, [sql]).run("SELECT COUNT(*) FROM order", intent=intent)
    assert result.answer == "4199" and result.steps[0].error is not None and len(result.steps) == 2


def test_intent_narrows_the_tools(sql: Tool) -> None:
    model = ScriptedModel([call("fetch", url="http://x.test/"), final("ok")])
    ToolAgent(model, [sql, fetch, weather]).run("read http://x.test/", intent=Intent(kind="http", confidence=0.9))
    first = model.options[0].json_schema
    assert first is not None and first["properties"]["tool"]["const"] == "fetch"  # the only branch
    assert "TABLE customers" not in model.calls[0][0].content
    chat = ScriptedModel([final("Hello!")])
    result = ToolAgent(chat, [sql]).run("hi", intent=Intent(kind="chat", confidence=0.95))
    assert result.answer == "Hello!" and chat.options[0].json_schema["properties"]["tool"]["const"] == "final_answer"  # type: ignore[index]


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(BadInputError, match="unique"):
        ToolAgent(ScriptedModel([]), [weather, weather])
    with pytest.raises(BadInputError, match="max_steps"):
        ToolAgent(ScriptedModel([]), [weather], max_steps=0)
    with pytest.raises(BadInputError, match="question is empty"):
        ToolAgent(ScriptedModel([]), [weather]).run("  ")


def test_async_run() -> None:
    model = ScriptedModel([call("weather", city="oslo"), final("rain")])
    result = asyncio.run(ToolAgent(model, [weather]).arun("weather?"))
    assert result.answer == "rain"


def test_the_agent_closes_its_tools() -> None:
    closed: list[str] = []
    probe = Tool.from_function(weather.fn, name="probe", close=lambda: closed.append("probe"))
    with ToolAgent(ScriptedModel([]), [probe]):
        pass
    assert closed == ["probe"]
