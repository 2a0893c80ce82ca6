"""The console on the server's real pending-run store: a run paused over HTTP (`/v1/code`, review always) is
the one the approvals page lists; approving it in the browser (login cookie, CSRF) resumes it exactly once,
as `POST /v1/runs/{id}/approve` would, and rejecting it there feeds the reason back to the model."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support.review_doubles import RecordingSandbox
from unit.console.helpers import client, csrf_of
from unit.serve.helpers import FakeSandbox, fenced, make_app

from nativa.config import Settings
from nativa.models import ScriptedModel

KEY = "k-console-wire-1"
BEARER = {"authorization": f"Bearer {KEY}"}
TESTS = "assert add(2, 3) == 5\n"
RISKY = "import socket\ndef add(a, b):\n    return a + b\n"
GOOD = "def add(a, b):\n    return a + b\n"


@pytest.fixture
def sandbox() -> RecordingSandbox:
    return RecordingSandbox(FakeSandbox())


def _server(settings: Settings, replies: list[str], sandbox: RecordingSandbox) -> TestClient:
    """A server with a key (the API takes it as a header, the console as its login cookie)."""
    c = client(make_app(settings, ScriptedModel([fenced(r) for r in replies], name="small"), sandbox=sandbox,
                        api_key=KEY))
    form = c.get("/ui/login?next=/ui/approvals")
    signed_in = c.post("/ui/login", data={"key": KEY, "csrf": csrf_of(form.text), "next": "/ui/approvals"})
    assert signed_in.status_code == 303
    return c


def _pause(c: TestClient, review: str) -> dict[str, Any]:
    paused = c.post("/v1/code", headers=BEARER, json={"task": "add two numbers", "tests": TESTS, "candidates": 1,
                                                       "review": review})
    assert paused.status_code == 202, paused.text
    return paused.json()


def test_a_run_paused_over_http_is_approved_in_the_console_and_runs_once(settings: Settings,
                                                                         sandbox: RecordingSandbox) -> None:
    c = _server(settings, [RISKY], sandbox)
    paused = _pause(c, "always")
    run_id = paused["run_id"]
    assert sandbox.runs == 0

    listing = c.get("/ui/approvals")
    assert listing.status_code == 200 and listing.text.count('class="pending"') == 1 and run_id in listing.text
    page = c.get(f"/ui/approvals/{run_id}")
    assert page.status_code == 200 and 'id="approve"' in page.text and "add two numbers" in page.text
    assert 'class="line flagged' in page.text and "import socket" in page.text  # the network finding on its line

    token = csrf_of(page.text)
    shown = re.search(r'name="code_hash" value="(sha256:[0-9a-f]+)"', page.text)
    assert shown and shown.group(1) == paused["code_hash"]  # the form answers for the code the page showed
    assert c.post(f"/ui/approvals/{run_id}/approve", data={"csrf": "forged" + token[6:]}).status_code == 403
    stale = c.post(f"/ui/approvals/{run_id}/approve", data={"csrf": token, "code_hash": "sha256:" + "0" * 64})
    assert stale.status_code == 409 and "asks about other code" in stale.text  # it paused again for other code
    assert sandbox.runs == 0
    approved = c.post(f"/ui/approvals/{run_id}/approve", data={"csrf": token, "code_hash": shown.group(1)})
    assert approved.status_code == 303 and approved.headers["location"] == f"/ui/approvals/{run_id}"
    assert sandbox.seen.count(RISKY) == 1

    twice = c.post(f"/ui/approvals/{run_id}/approve", data={"csrf": token})  # a second click, another tab
    assert twice.status_code == 409 and "not awaiting approval" in twice.text
    assert c.post(f"/ui/approvals/{run_id}/reject", data={"csrf": token, "reason": "late"}).status_code == 409
    assert sandbox.seen.count(RISKY) == 1

    done = c.get(f"/ui/approvals/{run_id}").text
    assert "status-completed" in done and 'id="approve"' not in done and 'id="result-solved">yes<' in done
    assert 'id="decided-by">key:' in done and "(console)" in done
    record = c.get(f"/v1/runs/{run_id}", headers=BEARER).json()  # the HTTP API sees the same answer
    assert record["status"] == "done" and record["decision"] == "approve" and record["result"]["success"]
    assert record["decided_by"].endswith("(console)")
    assert c.get("/v1/runs", headers=BEARER).json()["data"] == []
    assert 'id="none-waiting"' in c.get("/ui/approvals").text
    assert c.get("/ui/approvals/run_nope").status_code == 404
    assert c.post("/ui/approvals/run_nope/approve", data={"csrf": token}).status_code == 404


def test_a_rejection_in_the_console_reaches_the_model(settings: Settings, sandbox: RecordingSandbox) -> None:
    c = _server(settings, [RISKY, GOOD], sandbox)
    run_id = _pause(c, "risky")["run_id"]
    token = csrf_of(c.get(f"/ui/approvals/{run_id}").text)
    rejected = c.post(f"/ui/approvals/{run_id}/reject", data={"csrf": token, "reason": "no sockets, please"})
    assert rejected.status_code == 303
    assert sandbox.seen == [GOOD]  # the rejected code never ran; the model's next version did
    done = c.get(f"/ui/approvals/{run_id}").text
    assert "status-completed" in done and "no sockets, please" in done and 'id="result-solved">yes<' in done
    record = c.get(f"/v1/runs/{run_id}", headers=BEARER).json()
    assert record["decision"] == "reject" and record["feedback"] == "no sockets, please"
