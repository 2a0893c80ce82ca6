"""`/v1/code` (the code agent) and `/v1/run` (the tool agent) over HTTP: results, streams, trace ids."""

from __future__ import annotations

import json
import sys
import types
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from unit.serve.helpers import EchoModel, FakeSandbox, fenced, make_app

from nativa.agent.tool_agent import ToolStep
from nativa.config import Settings
from nativa.models import ScriptedModel


def sse_events(text: str) -> list[tuple[str | None, Any]]:
    events = []
    for block in text.strip().split("\n\n"):
        name, data = None, None
        for line in block.splitlines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
        events.append((name, data if data == "[DONE]" else json.loads(data or "null")))
    return events


def code_client(settings: Settings, replies: list[str]) -> tuple[TestClient, FakeSandbox]:
    sandbox = FakeSandbox()
    model = ScriptedModel(replies, name="small")
    return TestClient(make_app(settings, model, sandbox=sandbox), raise_server_exceptions=False), sandbox


def test_code_repairs_and_returns_the_agent_result_with_trace_id(settings: Settings) -> None:
    client, sandbox = code_client(settings, [fenced("def add(a, b):\n    return a * b"),
                                             fenced("def add(a, b):\n    return a + b")])
    r = client.post("/v1/code", json={"task": "add two numbers", "tests": "assert add(2, 3) == 5", "candidates": 1})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] and body["stop_reason"] == "passed" and len(body["attempts"]) == 2
    assert body["attempts"][0]["error_type"] == "AssertionError" and sandbox.runs == 2
    assert body["trace_id"] == r.headers["x-trace-id"]


def test_code_fix_mode_runs_given_code_first(settings: Settings) -> None:
    client, _ = code_client(settings, [])
    r = client.post("/v1/code", json={"code": "def add(a, b):\n    return a + b"})
    assert r.status_code == 200 and r.json()["attempts"][0]["strategy"] == "given"


def test_code_stream_sends_each_attempt_then_the_result(settings: Settings) -> None:
    client, _ = code_client(settings, [fenced("def add(a, b):\n    return a - b"),
                                       fenced("def add(a, b):\n    return a + b")])
    r = client.post("/v1/code", json={"task": "add", "tests": "assert add(2, 3) == 5", "candidates": 1,
                                      "stream": True})
    assert r.status_code == 200 and r.headers["x-trace-id"]
    events = sse_events(r.text)
    names = [n for n, _ in events]
    assert names == ["attempt_start", "model_done", "run_done"] * 2 + ["result", None]
    assert events[2][1]["outcome"] == "failed" and events[5][1]["outcome"] == "passed"
    assert events[-2][1]["success"] is True and events[-1][1] == "[DONE]"


def test_code_needs_task_or_code(settings: Settings) -> None:
    client, _ = code_client(settings, [])
    r = client.post("/v1/code", json={"tests": "assert True"})
    assert r.status_code == 422 and "'task'" in r.json()["error"]["message"]
    r = client.post("/v1/code", json={"task": "x", "max_attempts": 50})
    assert r.status_code == 422 and r.json()["error"]["param"] == "max_attempts"


def test_code_model_failure_is_500_or_an_error_event_without_details(settings: Settings) -> None:
    client, _ = code_client(settings, [RuntimeError("boom")])
    r = client.post("/v1/code", json={"task": "add"})
    assert r.status_code == 500 and r.json()["error"]["error_id"] and "boom" not in r.text
    client, _ = code_client(settings, [fenced("def add(a, b):\n    return a * b"), RuntimeError("boom")])
    r = client.post("/v1/code", json={"task": "add", "tests": "assert add(2, 3) == 5", "candidates": 1,
                                      "stream": True})
    events = sse_events(r.text)  # the stream had started (attempt 1): the fault is its last event
    assert r.status_code == 200 and events[-2][0] == "error" and events[-2][1]["error"]["error_id"]
    assert "boom" not in r.text


def test_run_streams_each_step_of_the_real_tool_agent_as_it_is_taken(settings: Settings) -> None:
    model = ScriptedModel(["not a tool call"] * 4, name="small")
    client = TestClient(make_app(settings, model), raise_server_exceptions=False)
    r = client.post("/v1/run", json={"question": "What is six times seven?", "max_steps": 2, "stream": True})
    events = sse_events(r.text)
    assert r.status_code == 200 and [n for n, _ in events] == ["step", "step", "result", None]
    assert [e["error"] for _, e in events[:2]] == [s["error"] for s in events[2][1]["steps"]]
    assert all(e["error"] for _, e in events[:2])  # an unusable reply is an error observation, fed back


@dataclass
class _Result:
    answer: str
    steps: list[dict[str, Any]] = field(default_factory=list)
    trace_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"answer": self.answer, "steps": self.steps, "trace_id": self.trace_id}


@pytest.fixture
def contract_tool_agent(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A stand-in obeying the announced contract (ToolAgent(model, tools, max_steps, settings).run(q))."""
    from nativa import tracing

    seen: dict[str, Any] = {}

    class ToolAgent:
        def __init__(self, model: Any, tools: Any, *, max_steps: int, settings: Any, on_event: Any = None,
                     review: Any = None) -> None:
            seen.update(model=model, tools=tools, max_steps=max_steps, on_event=on_event, review=review)

        def run(self, question: str) -> _Result:
            with tracing.agent_span("tool_agent") as span:
                reply = seen["model"].complete([{"role": "user", "content": question}])
                step = ToolStep("sql", {"query": "select 1"}, "1")
                seen["on_event"]("step", step)
                return _Result(answer=reply.text, steps=[step.to_dict()], trace_id=span.trace_id)

    def build_tools(settings: Any, **kw: Any) -> list[str]:
        seen["build"] = kw
        return ["sql"]

    monkeypatch.setitem(sys.modules, "nativa.agent.tool_agent",
                        types.SimpleNamespace(ToolAgent=ToolAgent, ToolStep=ToolStep))
    monkeypatch.setattr("nativa.tools.build_tools", build_tools, raising=False)
    return seen


def test_run_follows_the_tool_agent_contract(settings: Settings, contract_tool_agent: dict[str, Any]) -> None:
    client = TestClient(make_app(settings, EchoModel(), run_allow_hosts=("api.example.com",)))
    r = client.post("/v1/run", json={"question": "how many", "max_steps": 3, "allow_hosts": ["api.example.com"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["answer"] == "echo how many" and body["steps"][0]["tool"] == "sql"
    assert body["trace_id"] == r.headers["x-trace-id"]
    assert contract_tool_agent["max_steps"] == 3
    assert contract_tool_agent["build"] == {"db": None, "allow_hosts": ["api.example.com"], "allow_private": False,
                                            "allow_writes": False}
    streamed = sse_events(client.post("/v1/run", json={"question": "q", "stream": True}).text)
    assert [n for n, _ in streamed] == ["step", "result", None]


def test_run_refuses_hosts_the_server_does_not_allow(settings: Settings,
                                                     contract_tool_agent: dict[str, Any]) -> None:
    client = TestClient(make_app(settings, EchoModel(), run_allow_hosts=("api.example.com",)))
    r = client.post("/v1/run", json={"question": "q", "allow_hosts": ["169.254.169.254"]})
    assert r.status_code == 422 and r.json()["error"]["param"] == "allow_hosts"
    assert "api.example.com" in r.json()["error"]["message"]


def test_run_with_the_real_tool_agent_answers_with_steps_and_trace(settings: Settings) -> None:
    model = ScriptedModel(["The answer is 42."] * 8, name="small")
    client = TestClient(make_app(settings, model), raise_server_exceptions=False)
    r = client.post("/v1/run", json={"question": "What is six times seven?", "max_steps": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) >= {"answer", "steps", "trace_id"} and body["trace_id"] == r.headers["x-trace-id"]
