"""What the console's unit tests share: an app with the scripted model, the fake sandbox, the word-hash
embedder and a test pending-run store, and a client that talks to it from loopback."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from support.pending import ScriptedPendingRuns
from unit.serve.helpers import FakeSandbox, fenced, make_app

from nativa.config import Settings
from nativa.models import ScriptedModel
from nativa.review.audit import AuditLog, MemoryAuditStore

HOSTILE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">{{7*7}}'
BAD = "return a - b"
GOOD = "return a + b"


def code_replies() -> list[str]:
    """The model fails once, then passes: `add` subtracts, then adds."""
    return [fenced(f"def add(a, b):\n    {BAD}"), fenced(f"def add(a, b):\n    {GOOD}")]


def console_app(settings: Settings, replies: list[str] | None = None, **config: Any) -> tuple[FastAPI, ScriptedPendingRuns]:
    model = ScriptedModel(replies if replies is not None else code_replies(), name="small")
    sandbox = FakeSandbox()
    app = make_app(settings, model, sandbox=sandbox, **config)
    pending = ScriptedPendingRuns(sandbox, AuditLog(MemoryAuditStore()))
    app.state.nativa_pending = pending
    app.state.nativa_console_audit = pending.audit
    return app, pending


def client(app: FastAPI, host: str = "127.0.0.1:8000") -> TestClient:
    return TestClient(app, base_url=f"http://{host}", raise_server_exceptions=False, follow_redirects=False)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def solve(c: TestClient, task: str = "add two numbers", **extra: Any) -> dict[str, Any]:
    body = {"task": task, "tests": "assert add(2, 3) == 5", "max_attempts": 3, "candidates": 1, **extra}
    response = c.post("/v1/code", json=body)
    assert response.status_code == 200, response.text
    return response.json()
