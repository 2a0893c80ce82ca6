"""Review over HTTP: a run that needs approval pauses (202), survives a restart, runs exactly once when
approved (retries and concurrent approves included), feeds a rejection back, expires, and stays with its key."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from support.review_doubles import RecordingSandbox
from unit.serve.helpers import FakeSandbox, fenced, make_app

from nativa.config import Settings
from nativa.data import sample_db_url
from nativa.models import ScriptedModel
from nativa.review import pending
from nativa.review.audit import AuditLog
from nativa.review.store import SQLiteReviewStore
from nativa.serve.runs import PausedRuns

TESTS = "assert add(2, 3) == 5\n"
RISKY = "import socket\ndef add(a, b):\n    return a + b\n"
RISKY_TOO = "import socket\n\n\ndef add(a, b):\n    return a + b\n"  # the same action (network socket), other code
GOOD = "def add(a, b):\n    return a + b\n"
ASK = {"task": "add two numbers", "tests": TESTS, "candidates": 1, "review": "risky"}


def server(settings: Settings, model: ScriptedModel, sandbox: RecordingSandbox, **config: Any) -> TestClient:
    return TestClient(make_app(settings, model, sandbox=sandbox, **config), raise_server_exceptions=False)


@pytest.fixture
def sandbox() -> RecordingSandbox:
    return RecordingSandbox(FakeSandbox())


def audit(settings: Settings) -> list[tuple[str, str, str | None]]:
    with SQLiteReviewStore(settings.review_db_path) as store:
        return [(e.verdict, e.who, e.scope) for e in AuditLog(store).entries()]


def test_a_risky_candidate_pauses_and_one_approval_runs_it_once(settings: Settings,
                                                                  sandbox: RecordingSandbox) -> None:
    client = server(settings, ScriptedModel([fenced(RISKY)], name="small"), sandbox)
    r = client.post("/v1/code", json=ASK)
    assert r.status_code == 202, r.text
    paused = r.json()
    assert paused["status"] == "awaiting_approval" and paused["code"] == RISKY and paused["kind"] == "code"
    assert [f["rule"] for f in paused["findings"]] == ["network"] and paused["run_id"].startswith("run_")
    assert paused["trace_id"] == r.headers["x-trace-id"] and sandbox.runs == 0
    run_id = paused["run_id"]
    assert client.get(f"/v1/runs/{run_id}").json()["status"] == "awaiting_approval"
    assert [x["run_id"] for x in client.get("/v1/runs").json()["data"]] == [run_id]

    done = client.post(f"/v1/runs/{run_id}/approve", json={"code_hash": paused["code_hash"]})
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["status"] == "done" and body["decision"] == "approve" and body["decided_by"] == "anonymous"
    assert body["result"]["success"] and body["result"]["code"] == RISKY
    assert sandbox.seen.count(RISKY) == 1

    again = client.post(f"/v1/runs/{run_id}/approve", json={})  # a retry, or a second person
    assert again.status_code == 409 and again.json()["error"]["code"] == "run_not_awaiting_approval"
    assert client.post(f"/v1/runs/{run_id}/reject", json={"reason": "late"}).status_code == 409
    assert sandbox.seen.count(RISKY) == 1 and client.get("/v1/runs").json()["data"] == []
    assert client.get(f"/v1/runs/{run_id}").json()["result"]["success"] is True
    assert audit(settings) == [("pending", "anonymous", None), ("approved", "anonymous", "once")]


def test_a_paused_run_survives_a_restart(settings: Settings, sandbox: RecordingSandbox) -> None:
    model = ScriptedModel([fenced(RISKY)], name="small")
    before = server(settings, model, sandbox)
    run_id = before.post("/v1/code", json=ASK).json()["run_id"]
    after = server(settings, model, sandbox)  # a new app instance on the same file: nothing in memory
    assert after.get(f"/v1/runs/{run_id}").json()["code"] == RISKY
    done = after.post(f"/v1/runs/{run_id}/approve", json={})
    assert done.status_code == 200 and done.json()["result"]["success"] and sandbox.seen == [RISKY]


def test_two_concurrent_approves_run_the_code_once(settings: Settings, sandbox: RecordingSandbox) -> None:
    model = ScriptedModel([fenced(RISKY)], name="small")
    run_id = server(settings, model, sandbox).post("/v1/code", json=ASK).json()["run_id"]
    clients = [server(settings, model, sandbox), server(settings, model, sandbox)]  # two servers, one file
    start = threading.Barrier(2)
    statuses: list[int] = []

    def approve(client: TestClient) -> None:
        start.wait()
        statuses.append(client.post(f"/v1/runs/{run_id}/approve", json={}).status_code)

    threads = [threading.Thread(target=approve, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(statuses) == [200, 409]
    assert sandbox.seen == [RISKY]


def test_an_approval_for_the_session_covers_its_later_runs_and_no_others(settings: Settings,
                                                                          sandbox: RecordingSandbox) -> None:
    model = ScriptedModel([fenced(RISKY)] + [fenced(RISKY_TOO)] * 3, name="small")
    client = server(settings, model, sandbox)
    for name in ("s1", "s2"):
        assert client.post("/v1/sessions", json={"name": name}).status_code == 201
    paused = client.post("/v1/code", json={**ASK, "session": "s1"}).json()
    done = client.post(f"/v1/runs/{paused['run_id']}/approve", json={"scope": "session"})
    assert done.status_code == 200 and done.json()["scope"] == "session"
    later = client.post("/v1/code", json={**ASK, "session": "s1"})  # same action, other code: covered, unasked
    assert later.status_code == 200, later.text
    assert later.json()["attempts"][0]["candidates"][0]["review"]["status"] == "covered"
    assert client.post("/v1/code", json={**ASK, "session": "s2"}).status_code == 202  # another session asks again
    assert client.post("/v1/code", json=ASK).status_code == 202  # and so does a run in no session
    assert sandbox.seen == [RISKY, RISKY_TOO]
    assert [v for v, _, _ in audit(settings)] == ["pending", "approved", "covered", "pending", "pending"]


def test_a_rejection_resumes_the_run_and_the_model_reads_the_reason(settings: Settings,
                                                                    sandbox: RecordingSandbox) -> None:
    model = ScriptedModel([fenced(RISKY), fenced(GOOD)], name="small")
    client = server(settings, model, sandbox, api_key="k", api_key_name="ops-ana")
    key = {"authorization": "Bearer k"}
    run_id = client.post("/v1/code", json=ASK, headers=key).json()["run_id"]
    r = client.post(f"/v1/runs/{run_id}/reject", json={"reason": "no sockets in this service"}, headers=key)
    assert r.status_code == 200, r.text
    assert r.json()["result"]["success"] and r.json()["result"]["code"] == GOOD and r.json()["decided_by"] == "ops-ana"
    assert "the reviewer rejected this because: no sockets in this service" in model.calls[1][-1].content
    assert sandbox.seen == [GOOD]
    assert [(v, w) for v, w, _ in audit(settings)] == [("pending", "ops-ana"), ("rejected", "ops-ana"),
                                                      ("not_needed", "ops-ana")]
    assert client.post(f"/v1/runs/{run_id}/reject", json={}, headers=key).status_code == 422  # a reason is needed


def test_a_run_that_nobody_answers_expires(settings: Settings, sandbox: RecordingSandbox,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    client = server(settings, ScriptedModel([fenced(RISKY)], name="small"), sandbox)
    paused = client.post("/v1/code", json=ASK).json()
    later = paused["expires_at"] + 1
    monkeypatch.setattr(pending, "now", lambda: later)
    assert client.get(f"/v1/runs/{paused['run_id']}").json()["status"] == "expired"
    r = client.post(f"/v1/runs/{paused['run_id']}/approve", json={})
    assert r.status_code == 410 and r.json()["error"]["code"] == "run_expired" and sandbox.runs == 0
    assert client.get("/v1/runs").json()["data"] == []


def test_the_expiry_is_a_setting(tmp_path: Path, sandbox: RecordingSandbox) -> None:
    settings = Settings(home=tmp_path / "home", review_approval_ttl_s=90)
    paused = server(settings, ScriptedModel([fenced(RISKY)], name="small"), sandbox).post("/v1/code", json=ASK)
    assert round(paused.json()["expires_at"] - paused.json()["created_at"]) == 90


def test_runs_belong_to_their_key(settings: Settings, sandbox: RecordingSandbox) -> None:
    model = ScriptedModel([fenced(RISKY)], name="small")
    alice = server(settings, model, sandbox, api_key="alice-key")
    bob = server(settings, model, sandbox, api_key="bob-key")  # another server on the same file
    run_id = alice.post("/v1/code", json=ASK, headers={"authorization": "Bearer alice-key"}).json()["run_id"]
    b = {"authorization": "Bearer bob-key"}
    assert bob.get(f"/v1/runs/{run_id}", headers=b).status_code == 404
    assert bob.post(f"/v1/runs/{run_id}/approve", json={}, headers=b).status_code == 404
    assert bob.get("/v1/runs", headers=b).json()["data"] == [] and sandbox.runs == 0
    assert alice.post(f"/v1/runs/{run_id}/approve", json={}).status_code == 401  # no key, no answer


def test_an_answer_for_other_code_is_refused(settings: Settings, sandbox: RecordingSandbox) -> None:
    client = server(settings, ScriptedModel([fenced(RISKY)], name="small"), sandbox)
    run_id = client.post("/v1/code", json=ASK).json()["run_id"]
    r = client.post(f"/v1/runs/{run_id}/approve", json={"code_hash": "sha256:" + "0" * 64})
    assert r.status_code == 409 and sandbox.runs == 0
    assert client.get(f"/v1/runs/{run_id}").json()["status"] == "awaiting_approval"  # still answerable


def test_without_review_the_code_agent_runs_unasked(settings: Settings, sandbox: RecordingSandbox) -> None:
    client = server(settings, ScriptedModel([fenced(RISKY)], name="small"), sandbox)
    r = client.post("/v1/code", json={k: v for k, v in ASK.items() if k != "review"})
    assert r.status_code == 200 and r.json()["success"] and sandbox.seen == [RISKY]
    assert client.post("/v1/code", json={**ASK, "review": "sometimes"}).status_code == 422


def test_a_streamed_run_ends_with_the_pause(settings: Settings, sandbox: RecordingSandbox) -> None:
    client = server(settings, ScriptedModel([fenced(RISKY)], name="small"), sandbox)
    r = client.post("/v1/code", json={**ASK, "stream": True})
    blocks = [b for b in r.text.strip().split("\n\n")]
    assert blocks[-1] == "data: [DONE]" and blocks[-2].startswith("event: awaiting_approval\n")
    paused = json.loads(blocks[-2].split("data: ", 1)[1])
    assert paused["status"] == "awaiting_approval" and sandbox.runs == 0


def test_the_tool_agent_pauses_before_a_write_and_resumes(settings: Settings, sandbox: RecordingSandbox) -> None:
    delete = json.dumps({"tool": "sql", "arguments": {"query": "DELETE FROM customers"}})
    final = json.dumps({"tool": "final_answer", "arguments": {"answer": "the database is read-only"}})
    model = ScriptedModel([delete, final], name="small")
    client = server(settings, model, sandbox, run_db=sample_db_url())  # a database: risky by default
    r = client.post("/v1/run", json={"question": "delete every customer"})
    assert r.status_code == 202, r.text
    paused = r.json()
    assert paused["kind"] == "run" and json.loads(paused["code"])["arguments"]["query"] == "DELETE FROM customers"
    assert [(f["rule"], f["target"]) for f in paused["findings"]] == [("sql-write", "customers")]
    done = client.post(f"/v1/runs/{paused['run_id']}/approve", json={})
    assert done.status_code == 200, done.text
    result = done.json()["result"]
    assert result["answer"] == "the database is read-only"
    step = result["steps"][0]
    assert step["review"]["status"] == "approved" and "read-only" in (step["error"] or step["observation"])


def test_the_typed_api_answers_like_the_routes(settings: Settings, sandbox: RecordingSandbox) -> None:
    """`PausedRuns`, as the browser console calls it: approve claims, resumes once and returns the record."""
    app = make_app(settings, ScriptedModel([fenced(RISKY)], name="small"), sandbox=sandbox)

    @app.post("/test/approve/{run_id}")
    async def approve_here(run_id: str, request: Request) -> dict[str, Any]:
        runs = PausedRuns(request)
        waiting = [r.id for r in runs.list_pending()]
        done = await runs.approve(run_id, who="console:ana")
        return {"waiting": waiting, "status": done.record.status, "who": done.record.decided_by,
                "success": (done.record.result or {}).get("success")}

    client = TestClient(app, raise_server_exceptions=False)
    run_id = client.post("/v1/code", json=ASK).json()["run_id"]
    assert client.post(f"/test/approve/{run_id}").json() == {"waiting": [run_id], "status": "done",
                                                             "who": "console:ana", "success": True}
    assert client.post(f"/test/approve/{run_id}").status_code == 409 and sandbox.seen == [RISKY]
    assert audit(settings)[-1] == ("approved", "console:ana", "once")
