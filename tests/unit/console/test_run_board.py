"""The run board: what a route's work leaves on it, bounded, and followed live by the console."""

from __future__ import annotations

import asyncio
import threading

import pytest

from nativa.errors import BadInputError
from nativa.serve.console.board import RunBoard


def test_a_tracked_run_ends_with_its_verdict_or_its_error() -> None:
    board = RunBoard()
    with board.track("code", "task") as live:
        live.tee(None)(("event", "run_done", {"number": 1, "outcome": "failed", "error_type": "NameError"}))
        live.finish({"success": True, "attempts": [{}]})
    with pytest.raises(BadInputError), board.track("run", "question"):
        raise BadInputError("bad question: say what to ask")
    with pytest.raises(RuntimeError), board.track("chat", "hi"):
        raise RuntimeError("/secret/path/in/a/fault")
    chat, run, code = board.list()
    assert code.status == "passed" and code.events[0]["outcome"] == "failed" and "code" not in code.events[0]
    assert run.status == "error" and run.error == "bad question: say what to ask"
    assert chat.status == "error" and chat.error == "RuntimeError"  # a fault's details stay in the log


def test_the_board_keeps_the_newest_runs_but_never_drops_a_running_one() -> None:
    board = RunBoard(capacity=3)
    first = board.start("code", "long one")
    for i in range(5):
        with board.track("chat", f"q{i}") as live:
            live.finish({"reply": "ok"})
    kept = [r.task for r in board.list()]
    assert "long one" in kept and len(kept) <= 4 and kept[0] == "q4"
    assert board.get(first.id) is first


def test_follow_replays_then_streams_then_ends() -> None:
    board = RunBoard()
    run = board.start("code", "task")
    board.publish(run, {"type": "attempt", "number": 1})
    got: list[dict[str, object]] = []

    async def watch() -> None:
        async for event in board.follow(run.id):
            got.append(event)
            if len(got) == 1:
                threading.Thread(target=lambda: (board.publish(run, {"type": "attempt", "number": 2}),
                                                 board.end(run, "failed"))).start()

    asyncio.run(asyncio.wait_for(watch(), 10))
    assert got == [{"type": "attempt", "number": 1}, {"type": "attempt", "number": 2},
                   {"type": "end", "status": "failed"}]

    async def after() -> list[dict[str, object]]:
        return [e async for e in board.follow(run.id)]

    assert asyncio.run(after())[-1] == {"type": "end", "status": "failed"}
    assert asyncio.run(_collect(board, "live-404")) == []


async def _collect(board: RunBoard, run_id: str) -> list[dict[str, object]]:
    return [e async for e in board.follow(run_id)]


def test_a_run_paused_for_review_ends_on_the_board_awaiting_approval_and_its_resume_shows(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient
    from unit.serve.helpers import FakeSandbox, fenced, make_app

    from nativa.config import Settings
    from nativa.models import ScriptedModel

    risky = "import socket\ndef add(a, b):\n    return a + b\n"
    app = make_app(Settings(home=tmp_path / "home"), ScriptedModel([fenced(risky)], name="small"),
                   sandbox=FakeSandbox())
    client = TestClient(app, raise_server_exceptions=False)
    paused = client.post("/v1/code", json={"task": "add two numbers", "tests": "assert add(2, 3) == 5\n",
                                           "candidates": 1, "review": "risky"})
    assert paused.status_code == 202, paused.text
    board = app.state.nativa.board
    assert [(r.id, r.status) for r in board.list()] == [("live-1", "awaiting_approval")]
    done = client.post(f"/v1/runs/{paused.json()['run_id']}/approve", json={})
    assert done.status_code == 200 and done.json()["status"] == "done"
    assert [(r.id, r.status) for r in board.list()] == [("live-2", "passed"), ("live-1", "awaiting_approval")]
