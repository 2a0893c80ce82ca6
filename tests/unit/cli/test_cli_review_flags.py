"""`nativa code --review` and `nativa run --review`: a person at the terminal answers, no terminal fails
closed, grants make `risky` the default, and every decision is in `nativa review log`."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest
from support.review_doubles import RecordingSandbox
from unit.serve.helpers import FakeSandbox

from nativa.cli import run
from nativa.models import ScriptedModel

RISKY = "import socket\ndef add(a, b):\n    return a + b\n"
GOOD = "def add(a, b):\n    return a + b\n"


class FakeTTY(io.StringIO):
    """What a person types, on a stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def fenced(code: str) -> str:
    return f"```python\n{code}```"


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> RecordingSandbox:
    recording = RecordingSandbox(FakeSandbox())
    monkeypatch.setattr("nativa.cli._runtime.open_sandbox", lambda cfg, pool_size=1: recording)
    return recording


def script(monkeypatch: pytest.MonkeyPatch, replies: list[str]) -> ScriptedModel:
    model = ScriptedModel(replies)
    monkeypatch.setattr("nativa.cli._runtime.open_model", lambda name, cfg: model)
    return model


def log(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, object]]:
    capsys.readouterr()
    assert run(["review", "log", "--json", *args]) == 0
    entries: list[dict[str, object]] = json.loads(capsys.readouterr().out)["entries"]
    return entries


def test_code_review_without_a_terminal_fails_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     sandbox: RecordingSandbox,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    tests = tmp_path / "t.py"
    tests.write_text("assert add(2, 3) == 5\n")
    script(monkeypatch, [fenced(RISKY)])
    assert run(["code", "add two numbers", "--tests", str(tests), "--review", "risky", "--candidates", "1"]) == 1
    err = capsys.readouterr().err
    assert "review_unavailable" in err and "no terminal" in err and "nothing was run" in err
    assert sandbox.runs == 0
    (entry,) = log(capsys)
    assert entry["verdict"] == "unavailable" and entry["approved"] is False and entry["max_risk"] == "high"


def test_code_review_at_the_terminal_rejects_with_feedback_then_runs_the_safer_version(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: RecordingSandbox,
        capsys: pytest.CaptureFixture[str]) -> None:
    tests = tmp_path / "t.py"
    tests.write_text("assert add(2, 3) == 5\n")
    model = script(monkeypatch, [fenced(RISKY), fenced(GOOD)])
    monkeypatch.setattr("sys.stdin", FakeTTY("e\nno sockets here\n"))
    assert run(["code", "add two numbers", "--tests", str(tests), "--review", "risky", "--candidates", "1",
                "--session", "cli-s"]) == 0
    err = capsys.readouterr().err
    assert "imports socket" in err  # the finding was shown under its line
    assert "review: not run (rejected)" in err and "solved" in err
    assert sandbox.ran("socket") == 0 and sandbox.runs == 1
    assert "the reviewer rejected this because: no sockets here" in model.calls[1][-1].content
    assert [e["verdict"] for e in log(capsys, "--session", "cli-s")] == ["rejected", "not_needed"]


def test_code_defaults_to_no_review(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: RecordingSandbox,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    tests = tmp_path / "t.py"
    tests.write_text("assert add(2, 3) == 5\n")
    script(monkeypatch, [fenced(RISKY)])
    assert run(["code", "add two numbers", "--tests", str(tests), "--candidates", "1"]) == 0
    assert sandbox.ran("socket") == 1 and log(capsys) == []


def test_bad_review_mode_is_exit_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    script(monkeypatch, [])
    assert run(["code", "x", "--review", "sometimes"]) == 2
    assert "review mode 'sometimes' is invalid; valid: never, risky, always" in capsys.readouterr().err
    assert run(["run", "x", "--review", "sometimes"]) == 2


def _shop(tmp_path: Path) -> str:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE orders (id INTEGER)")
        db.executemany("INSERT INTO orders VALUES (?)", [(1,), (2,)])
    return f"sqlite:///{path}"


def _orders(url: str) -> int:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        return int(db.execute("SELECT count(*) FROM orders").fetchone()[0])


DELETE = json.dumps({"tool": "sql", "arguments": {"query": "DELETE FROM orders"}})


def test_run_with_write_grants_reviews_by_default_and_fails_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    url = _shop(tmp_path)
    script(monkeypatch, [DELETE])
    assert run(["run", "empty the orders table", "--db", url, "--allow-writes", "--no-python", "--intent",
                "off"]) == 1
    err = capsys.readouterr().err
    assert "review_unavailable" in err and "sql-write orders" in err and _orders(url) == 2
    assert [e["verdict"] for e in log(capsys)] == ["unavailable"]


def test_run_review_never_lets_a_granted_write_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    url = _shop(tmp_path)
    script(monkeypatch, [DELETE, json.dumps({"tool": "final_answer", "arguments": {"answer": "emptied"}})])
    assert run(["run", "empty the orders table", "--db", url, "--allow-writes", "--no-python", "--intent", "off",
                "--review", "never"]) == 0
    assert _orders(url) == 0


def test_run_reads_pass_a_risky_review_unasked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    url = _shop(tmp_path)
    script(monkeypatch, [json.dumps({"tool": "sql", "arguments": {"query": "SELECT count(*) AS n FROM orders"}}),
                         json.dumps({"tool": "final_answer", "arguments": {"answer": "2 orders"}})])
    assert run(["run", "how many orders?", "--db", url, "--no-python", "--intent", "off"]) == 0
    assert "2 orders" in capsys.readouterr().out
    assert [(e["verdict"], e["max_risk"]) for e in log(capsys)] == [("not_needed", "low")]
