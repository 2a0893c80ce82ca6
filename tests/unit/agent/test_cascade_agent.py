"""The cascade in the agents, with scripted stages: it escalates on evidence only, the next stage sees what
the first one tried, the cost adds up per stage, and a stage nothing escalated to is never built."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from support.tracing_fixtures import capture_spans, finished_span
from unit.serve.helpers import FakeSandbox, fenced

from nativa.agent import CodeAgent
from nativa.agent.cascade import grounded
from nativa.agent.result import Escalation
from nativa.agent.tool_agent import ToolAgent
from nativa.agent.tool_result import ToolStep
from nativa.models import ScriptedModel
from nativa.models.base import ChatModel
from nativa.models.cascade import CascadeModel
from nativa.tools import Tool, tool

TESTS = "assert add(2, 3) == 5\n"
GOOD = fenced("def add(a, b):\n    return a + b")
BAD = fenced("def add(a, b):\n    return a * b")


class Factory:
    """Builds each stage's scripted model on demand and counts the builds (the lazy-loading evidence)."""

    def __init__(self, **scripts: list[str]) -> None:
        self.scripts = scripts
        self.built: list[str] = []
        self.models: dict[str, ScriptedModel] = {}

    def __call__(self, stage: str) -> ChatModel:
        self.built.append(stage)
        model = ScriptedModel(self.scripts[stage.replace("openai:", "remote_")], name=stage)
        if stage.startswith("openai:"):
            model.remote = True  # type: ignore[misc]
        self.models[stage] = model
        return model


def chain(factory: Factory, *stages: str) -> CascadeModel:
    return CascadeModel(stages or ("small", "large"), factory)


def code_agent(model: ChatModel, **kw: Any) -> CodeAgent:
    kw.setdefault("candidates", 1)
    kw.setdefault("generate_tests", "never")
    kw.setdefault("max_attempts", 1)
    return CodeAgent(model, FakeSandbox(), **kw)


@pytest.fixture
def spans(tmp_path: Path) -> Iterator[InMemorySpanExporter]:
    yield from capture_spans(tmp_path / "home")


def agent_span(spans: InMemorySpanExporter, name: str = "invoke_agent code_agent") -> dict[str, Any]:
    return finished_span(spans, name)


def test_no_escalation_when_the_small_stage_passes_and_the_large_is_never_built(
        spans: InMemorySpanExporter) -> None:
    factory = Factory(small=[GOOD], large=[])
    result = code_agent(chain(factory)).solve("write add(a, b)", tests=TESTS)
    assert result.success and result.escalations == [] and result.answered_by == "small"
    assert factory.built == ["small"]  # the large model was never loaded
    attrs = agent_span(spans)
    assert attrs["nativa.cascade.escalated"] is False and attrs["nativa.cascade.stage"] == "small"
    small, large = result.cost.stages if result.cost else []
    assert small.model == "small" and small.output_tokens > 0
    assert (large.model, large.input_tokens, large.output_tokens, large.model_s) == ("large", 0, 0, 0.0)


def test_escalates_after_a_failed_check_with_the_reason_recorded(spans: InMemorySpanExporter) -> None:
    factory = Factory(small=[BAD], large=[GOOD])
    result = code_agent(chain(factory)).solve("write add(a, b)", tests=TESTS)
    assert result.success and result.answered_by == "large"
    assert [(e.from_stage, e.to, e.reason) for e in result.escalations] == [("small", "large", "checks_failed")]
    assert [a.model for a in result.attempts] == ["small", "large"]
    attrs = agent_span(spans)
    assert attrs["nativa.cascade.escalated"] is True and attrs["nativa.cascade.reason"] == "checks_failed"
    assert attrs["nativa.cascade.stage"] == "large"
    data = result.to_dict()
    assert data["escalations"] == [{"from": "small", "to": "large", "reason": "checks_failed",
                                    "detail": "the best attempt failed 1 check(s)"}]
    assert data["answered_by"] == "large"


def test_the_large_stage_starts_from_the_task_with_the_small_stage_s_observation() -> None:
    factory = Factory(small=[BAD], large=[GOOD])
    code_agent(chain(factory)).solve("write add(a, b)", tests=TESTS)
    prompt = factory.models["large"].calls[0][-1].content
    assert "write add(a, b)" in prompt  # the task itself
    assert "left is 6, right is 5" in prompt  # what happened to the small stage's code
    assert "return a * b" not in prompt  # not the code itself: a model shown failed code copies it


def test_small_attempts_is_the_first_stage_s_budget() -> None:
    factory = Factory(small=[BAD, BAD], large=[GOOD])
    result = code_agent(chain(factory), small_attempts=2, max_attempts=3).solve("write add(a, b)", tests=TESTS)
    assert [a.model for a in result.attempts] == ["small", "small", "large"] and result.success
    assert factory.models["small"].remaining == 0


def test_cost_sums_over_the_stages() -> None:
    factory = Factory(small=[BAD], large=[GOOD])
    result = code_agent(chain(factory)).solve("write add(a, b)", tests=TESTS)
    assert result.cost is not None
    small, large = result.cost.stages
    calls = {name: m.calls for name, m in factory.models.items()}
    assert small.input_tokens == sum(len(m.content.split()) for m in calls["small"][0])
    assert small.output_tokens == len(BAD.split()) and large.output_tokens == len(GOOD.split())
    total = result.cost.to_dict()["total"]
    assert total["output_tokens"] == small.output_tokens + large.output_tokens
    assert total["input_tokens"] == small.input_tokens + large.input_tokens
    assert total["model_s"] == pytest.approx(small.model_s + large.model_s)


def test_a_single_model_has_one_cost_stage() -> None:
    result = code_agent(ScriptedModel([GOOD], name="small")).solve("write add(a, b)", tests=TESTS)
    assert result.cost is not None and [s.model for s in result.cost.stages] == ["small"]
    assert result.cost.stages[0].compute == 0.0  # a scripted model has no parameter count
    assert result.to_dict()["cost"]["total"]["output_tokens"] == len(GOOD.split())
    assert result.escalations == [] and result.answered_by == "small"


def test_a_three_stage_chain_reaches_its_third_stage() -> None:
    factory = Factory(small=[BAD], large=[BAD], remote_big=[GOOD])
    result = code_agent(chain(factory, "small", "large", "openai:big")).solve("write add(a, b)", tests=TESTS)
    assert result.success and result.answered_by == "openai:big"
    assert [(e.from_stage, e.to) for e in result.escalations] == [("small", "large"), ("large", "openai:big")]
    assert [s.model for s in result.cost.stages] == ["small", "large", "openai:big"] if result.cost else False


def test_code_that_only_ran_escalates_as_not_verified() -> None:
    factory = Factory(small=[GOOD], large=[GOOD])
    result = code_agent(chain(factory)).solve("write a function add")  # no tests, no examples
    assert [e.reason for e in result.escalations] == ["not_verified"]
    assert result.success and result.verified_by == "ran_only" and result.answered_by == "large"


def test_sensitive_work_stays_on_the_local_stages(spans: InMemorySpanExporter) -> None:
    factory = Factory(small=[BAD], remote_big=[GOOD])
    task = "write add(a, b); the result goes to ana.lopez@example.org"
    result = code_agent(chain(factory, "small", "openai:big")).solve(task, tests=TESTS)
    assert "openai:big" not in factory.built  # the remote stage was not even built
    assert result.escalations == [] and result.answered_by == "small" and not result.success
    attrs = agent_span(spans)
    assert attrs["nativa.cascade.privacy"] == "kept_local" and "email" in attrs["nativa.cascade.privacy_reason"]
    assert "ana.lopez" not in json.dumps(attrs)  # the decision, never the value


def test_local_only_work_never_reaches_a_remote_stage() -> None:
    factory = Factory(small=[BAD], remote_big=[GOOD])
    result = code_agent(chain(factory, "small", "openai:big")).solve("write add(a, b)", tests=TESTS,
                                                                     local_only=True)
    assert "openai:big" not in factory.built and result.escalations == []


def test_batched_candidates_still_go_through_complete_many() -> None:
    class Batched(ScriptedModel):
        def __init__(self, replies: list[str], name: str) -> None:
            super().__init__(replies, name=name)
            self.many: list[int] = []

        def complete_many(self, messages: Any, options: Any = None, n: int = 1) -> Any:
            self.many.append(n)
            return super().complete_many(messages, options, n)

    built: dict[str, Batched] = {}

    def factory(stage: str) -> ChatModel:
        model = built[stage] = Batched([BAD, BAD, BAD, GOOD], name=stage)
        model.remote = stage.startswith("openai:")  # type: ignore[misc]
        return model

    cascade = CascadeModel(("small", "openai:big"), factory)
    result = code_agent(cascade, candidates=3, max_attempts=2).solve("write add(a, b)", tests=TESTS)
    assert result.answered_by == "openai:big" and result.success
    assert built["openai:big"].many == [3]  # the privacy wrapper forwarded the batched call


# -- the tool agent --------------------------------------------------------------------------------
@tool
def weather(city: str) -> str:
    """Current weather in a city."""
    if city.lower() != "oslo":
        raise ValueError(f"no weather data for {city!r}; known cities: Oslo")
    return "Oslo: 4 °C, rain"


def call(name: str, **arguments: Any) -> str:
    return json.dumps({"tool": name, "arguments": arguments})


def final(answer: str) -> str:
    return call("final_answer", answer=answer)


def tool_agent(model: ChatModel, tools: list[Tool] | None = None) -> ToolAgent:
    return ToolAgent(model, tools or [weather], max_steps=3)


def test_tool_agent_keeps_a_grounded_answer_on_the_small_stage() -> None:
    factory = Factory(small=[call("weather", city="Oslo"), final("4 °C and rain in Oslo")], large=[])
    result = tool_agent(chain(factory)).run("weather in Oslo?")
    assert result.answer == "4 °C and rain in Oslo" and result.escalations == [] and factory.built == ["small"]
    assert result.answered_by == "small" and result.to_dict()["cost"]["stages"][1]["output_tokens"] == 0


def test_tool_agent_escalates_on_a_failed_tool_call(spans: InMemorySpanExporter) -> None:
    factory = Factory(small=[call("weather", city="Bergen"), final("sunny")],
                      large=[call("weather", city="Oslo"), final("4 °C, rain")])
    result = tool_agent(chain(factory)).run("weather in Oslo?")
    assert [e.reason for e in result.escalations] == ["tool_error"]
    assert result.answer == "4 °C, rain" and result.answered_by == "large"
    assert [s.tool for s in result.steps] == ["weather", "weather"]  # the stages' steps add up
    attrs = agent_span(spans, "invoke_agent tool_agent")
    assert attrs["nativa.cascade.escalated"] is True and attrs["nativa.cascade.reason"] == "tool_error"
    cost = result.to_dict()["cost"]
    assert cost["total"]["output_tokens"] == sum(s["output_tokens"] for s in cost["stages"]) > 0


def test_tool_agent_keeps_an_answer_after_repeating_a_call_that_worked() -> None:
    # The 0.5B model's usual way to finish: it repeats the call, is told to answer from its result, and does.
    factory = Factory(small=[call("weather", city="Oslo"), call("weather", city="Oslo"), final("4 °C, rain")],
                      large=[])
    result = tool_agent(chain(factory)).run("weather in Oslo?")
    assert [s.error for s in result.steps] == [None, "repeated call"]
    assert result.escalations == [] and result.answered_by == "small" and factory.built == ["small"]


def test_tool_agent_escalates_when_it_repeats_a_call_that_failed() -> None:
    factory = Factory(small=[call("weather", city="Bergen"), call("weather", city="Bergen"), final("sunny")],
                      large=[call("weather", city="Oslo"), final("4 °C, rain")])
    result = tool_agent(chain(factory)).run("weather in Oslo?")
    assert result.escalations and result.answered_by == "large" and result.answer == "4 °C, rain"


def test_tool_agent_escalates_on_a_reply_that_fails_its_schema() -> None:
    factory = Factory(small=["not json at all", call("weather", city="Oslo"), final("4 °C")],
                      large=[call("weather", city="Oslo"), final("4 °C, rain")])
    result = tool_agent(chain(factory)).run("weather in Oslo?")
    assert [e.reason for e in result.escalations] == ["invalid_reply"]


def test_tool_agent_escalates_on_an_answer_no_tool_result_grounds() -> None:
    factory = Factory(small=[call("weather", city="Oslo"), final("17 °C and sunny")],
                      large=[call("weather", city="Oslo"), final("4 °C, rain")])
    result = tool_agent(chain(factory)).run("weather in Oslo?")
    assert [e.reason for e in result.escalations] == ["ungrounded"] and result.answer == "4 °C, rain"


def test_grounding_accepts_rounded_and_thousands_separated_numbers() -> None:
    steps = [ToolStep("sql", {}, "[(1234.5678,), (0.125,)]")]
    assert grounded("about 1,234.57 in total, 12.5 %", steps, "how much?")
    assert not grounded("1,300 in total", steps, "how much?")
    assert not grounded("1234.5678", [ToolStep("sql", {}, "boom", error="SQL error")], "q")


def test_escalation_to_dict_uses_from() -> None:
    assert Escalation("small", "large", "tool_error").to_dict()["from"] == "small"
