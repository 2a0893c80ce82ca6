"""A cascade served over HTTP: `/v1/code` and `/v1/run` escalate through the server's cancellable wrapper,
return the cost per stage, and `/metrics` counts which stage answered."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from support.cascade_doubles import scripted_cascade as cascade
from unit.serve.helpers import FakeSandbox, fenced, make_app

from nativa.config import Settings
from nativa.models import ScriptedModel
from nativa.models.base import ChatModel
from nativa.models.cascade import CascadeModel


def test_code_route_escalates_and_returns_the_cost(settings: Settings) -> None:
    model, built = cascade([fenced("def add(a, b):\n    return a * b")], [fenced("def add(a, b):\n    return a + b")])
    client = TestClient(make_app(settings, model, sandbox=FakeSandbox()), raise_server_exceptions=False)
    r = client.post("/v1/code", json={"task": "add two numbers", "tests": "assert add(2, 3) == 5", "candidates": 1,
                                      "max_attempts": 1, "model": model.name})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] and body["answered_by"] == "large" and built == ["small", "large"]
    assert body["escalations"] == [{"from": "small", "to": "large", "reason": "checks_failed",
                                    "detail": "the best attempt failed 1 check(s)"}]
    assert [s["model"] for s in body["cost"]["stages"]] == ["small", "large"]
    assert body["cost"]["total"]["output_tokens"] == sum(s["output_tokens"] for s in body["cost"]["stages"]) > 0
    text = client.get("/metrics").text
    assert 'nativa_cascade_answers_total{gen_ai_agent_name="code_agent",nativa_cascade_stage="large"} 1.0' in text
    assert 'nativa_cascade_escalations_total{gen_ai_agent_name="code_agent",nativa_cascade_reason="checks_failed"}' \
        in text


def test_readyz_names_each_stage_loaded_or_not_and_how_often_it_answered(settings: Settings) -> None:
    model, built = cascade([fenced("def add(a, b):\n    return a * b")], [fenced("def add(a, b):\n    return a + b")])
    client = TestClient(make_app(settings, model, sandbox=FakeSandbox()), raise_server_exceptions=False)

    def stages() -> list[dict[str, object]]:
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        (served,) = [m for m in ready.json()["models"] if "stages" in m]
        return served["stages"]  # type: ignore[no-any-return]

    assert stages() == [{"name": "small", "loaded": False, "answered": 0},
                        {"name": "large", "loaded": False, "answered": 0}] and built == []
    r = client.post("/v1/code", json={"task": "add two numbers", "tests": "assert add(2, 3) == 5", "candidates": 1,
                                      "max_attempts": 1, "model": model.name})
    assert r.status_code == 200 and r.json()["answered_by"] == "large", r.text
    assert stages() == [{"name": "small", "loaded": True, "answered": 0},
                        {"name": "large", "loaded": True, "answered": 1}]


def test_local_only_over_http_keeps_the_work_off_a_remote_stage(settings: Settings) -> None:
    built: list[str] = []

    def factory(stage: str) -> ChatModel:
        built.append(stage)
        model = ScriptedModel([fenced("def add(a, b):\n    return a * b")], name=stage)
        model.remote = stage.startswith("openai:")  # type: ignore[misc]
        return model

    model = CascadeModel(("small", "openai:big"), factory)
    client = TestClient(make_app(settings, model, sandbox=FakeSandbox()), raise_server_exceptions=False)
    r = client.post("/v1/code", json={"task": "add two numbers", "tests": "assert add(2, 3) == 5", "candidates": 1,
                                      "max_attempts": 1, "model": model.name, "local_only": True})
    assert r.status_code == 200, r.text
    assert built == ["small"] and r.json()["escalations"] == [] and r.json()["answered_by"] == "small"


def test_run_route_returns_the_cost_per_stage(settings: Settings) -> None:
    calls = [json.dumps({"tool": "sql", "arguments": {"query": "SELECT COUNT(*) FROM products"}}),
             json.dumps({"tool": "final_answer", "arguments": {"answer": "32 products"}})]
    model, built = cascade(calls, [])
    settings = settings.model_copy(update={"serve_run_db": None})
    from nativa.data import sample_db_url

    client = TestClient(make_app(settings, model, run_db=sample_db_url()), raise_server_exceptions=False)
    r = client.post("/v1/run", json={"question": "How many products are there?", "model": model.name})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["answer"] == "32 products" and body["answered_by"] == "small" and built == ["small"]
    assert [s["model"] for s in body["cost"]["stages"]] == ["small", "large"]
    assert body["cost"]["stages"][1] == {"model": "large", "input_tokens": 0, "output_tokens": 0, "model_s": 0.0,
                                         "compute": 0.0, "price": 0.0}
