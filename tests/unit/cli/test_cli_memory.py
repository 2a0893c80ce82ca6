"""`nativa chat`, `nativa memory ...` and `--session` on `nativa code`, driven in-process with the scripted model
and the word-hash embedder over a real SQLite file under the test's NATIVA_HOME."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.embedder import WordHashEmbedder

from nativa.cli import run
from nativa.config import Settings
from nativa.memory import open_memory
from nativa.models import ScriptedModel


@pytest.fixture
def stores(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every command opens the settings' store, with the test embedder instead of MiniLM."""
    opened: list[Any] = []

    def open_store(cfg: Settings) -> Any:
        memory = open_memory(cfg, embedder=WordHashEmbedder())
        opened.append(memory)
        return memory

    monkeypatch.setattr("nativa.cli._runtime.open_memory_store", open_store)
    return opened


def _use(monkeypatch: pytest.MonkeyPatch, model: ScriptedModel) -> None:
    monkeypatch.setattr("nativa.cli._runtime.open_model", lambda name, cfg: model)


def _json(capsys: pytest.CaptureFixture[str]) -> Any:
    return json.loads(capsys.readouterr().out)


def test_chat_remembers_across_invocations_and_prints_json(stores: list[Any], monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    model = ScriptedModel(["Nice to meet you, Ada.", "Your name is Ada."])
    _use(monkeypatch, model)
    assert run(["chat", "--session", "intro", "-m", "my name is Ada and I write compilers"]) == 0
    assert "Nice to meet you, Ada." in capsys.readouterr().out
    assert run(["chat", "--session", "intro", "-m", "what is my name", "--json"]) == 0
    body = _json(capsys)
    assert set(body) >= {"reply", "session", "recalled", "context_tokens", "trace_id"}
    assert body["reply"] == "Your name is Ada." and body["session"] == "intro" and body["context_tokens"] > 0
    second_prompt = [m.content for m in model.calls[1]]
    assert "my name is Ada and I write compilers" in second_prompt  # the earlier turn is in the context
    assert run(["memory", "sessions", "intro", "--json"]) == 0
    shown = _json(capsys)
    assert [m["role"] for m in shown["messages"]] == ["user", "assistant", "user", "assistant"]


def test_chat_recalls_a_fact_from_another_session(stores: list[Any], monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    model = ScriptedModel(["Noted.", "It is on the fridge."])
    _use(monkeypatch, model)
    assert run(["chat", "--session", "monday", "-m", "the spare house key is on the fridge"]) == 0
    capsys.readouterr()
    assert run(["chat", "--session", "friday", "-m", "where is the spare house key", "--json"]) == 0
    body = _json(capsys)
    assert body["recalled"][0]["text"] == "the spare house key is on the fridge" and body["recalled"][0]["score"] > 0
    assert "- the spare house key is on the fridge" in model.calls[1][-1].content


def test_chat_interactive_reads_until_exit(stores: list[Any], monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    _use(monkeypatch, ScriptedModel(["Hello!", "Bye!"]))
    lines = iter(["hi there", "", "see you", "/exit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    assert run(["chat", "--session", "live"]) == 0
    output = capsys.readouterr().out
    assert "Hello!" in output and "Bye!" in output
    assert run(["memory", "sessions", "--json"]) == 0
    assert _json(capsys)[0]["message_count"] == 4


def test_chat_bad_input_exits_2(stores: list[Any], monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    _use(monkeypatch, ScriptedModel([]))
    assert run(["chat", "-m", "   "]) == 2
    assert run(["chat", "--json"]) == 2
    assert run(["chat", "--session", "", "-m", "hi"]) == 2
    assert "session name" in capsys.readouterr().err


def test_memory_add_search_list_forget(stores: list[Any], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run(["memory", "add", "the backup runs at midnight", "--meta", "source=ops", "--json"]) == 0
    added = _json(capsys)
    assert added["text"] == "the backup runs at midnight" and added["metadata"] == {"source": "ops"}
    assert run(["memory", "add", "the printer is on floor two", "--session", "office", "--ttl", "3600"]) == 0
    capsys.readouterr()
    assert run(["memory", "search", "when does the backup run", "-k", "1", "--json"]) == 0
    hits = _json(capsys)
    assert len(hits) == 1 and hits[0]["text"] == "the backup runs at midnight" and hits[0]["score"] > 0
    assert run(["memory", "list", "--session", "office", "--json"]) == 0
    (listed,) = _json(capsys)
    assert listed["session"] == "office" and listed["expires_at"] is not None
    assert run(["memory", "forget", str(added["id"]), "--json"]) == 0
    assert _json(capsys) == {"removed": 1, "compacted": True}
    assert b"the backup runs at midnight" not in (tmp_path / "home" / "nativa.db").read_bytes()
    assert run(["memory", "forget", "--session", "office"]) == 0
    assert "forgot 1 record(s)" in capsys.readouterr().out
    assert run(["memory", "sessions", "--json"]) == 0
    assert _json(capsys) == []


@pytest.mark.parametrize("args, message", [
    (["memory", "sessions", "nope"], "no session named 'nope'"),
    (["memory", "forget", "--session", "nope"], "no session named 'nope'"),
    (["memory", "forget", "12345"], "no memory with id 12345"),
    (["memory", "forget"], "needs something to forget"),
    (["memory", "forget", "--older-than", "soon"], "--older-than 'soon' is not a duration"),
    (["memory", "add", "x", "--meta", "novalue"], "--meta 'novalue' is not KEY=VALUE"),
    (["memory", "list", "--session", "ghost"], "no session named 'ghost'"),
])
def test_memory_bad_input_is_one_line_and_exit_2(stores: list[Any], capsys: pytest.CaptureFixture[str],
                                                 args: list[str], message: str) -> None:
    assert run(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_corrupt_store_is_named_and_exit_1(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "broken.db"
    bad.write_bytes(b"garbage" * 1000)
    monkeypatch.setenv("NATIVA_MEMORY_URL", str(bad))
    monkeypatch.setenv("NATIVA_EMBEDDER", "none")
    assert run(["memory", "sessions"]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "not a usable nativa memory database" in err and "Traceback" not in err
    assert bad.read_bytes() == b"garbage" * 1000


def test_code_with_a_session_sees_the_previous_task_and_records_both(
        stores: list[Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    first = "```python\ndef double(x):\n    return x * 2\nprint(double(4))\n```"
    second = "```python\ndef double(x):\n    return abs(x) * 2\nprint(double(-4))\n```"
    no_tests = "I cannot write tests for this."  # the agent asks for checks of a task that has none
    model = ScriptedModel([first, no_tests, second, no_tests])
    _use(monkeypatch, model)
    assert run(["code", "write double(x) and print double(4)", "--session", "work", "--json"]) == 0
    capsys.readouterr()
    assert run(["code", "now make it double the absolute value", "--session", "work", "--json"]) == 0
    prompt = "\n".join(m.content for m in model.calls[2])
    assert "write double(x) and print double(4)" in prompt and "return x * 2" in prompt
    assert "now make it double the absolute value" in prompt
    capsys.readouterr()
    assert run(["memory", "sessions", "work", "--json"]) == 0
    shown = _json(capsys)
    assert [r["task"] for r in shown["runs"]] == ["write double(x) and print double(4)",
                                                  "now make it double the absolute value"]
    assert shown["runs"][0]["result"]["success"] is True and "return x * 2" in shown["runs"][0]["result"]["code"]


def test_run_with_a_session_sees_the_previous_question_and_answer(
        stores: list[Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    model = ScriptedModel(['{"tool": "sql", "arguments": {"query": "SELECT COUNT(*) FROM products"}}',
                           '{"tool": "final_answer", "arguments": {"answer": "32 products"}}',
                           '{"tool": "final_answer", "arguments": {"answer": "about 32, as before"}}'])
    _use(monkeypatch, model)
    assert run(["run", "How many products are there?", "--session", "shop", "--no-python", "--intent", "off",
                "--json"]) == 0
    capsys.readouterr()
    assert run(["run", "And is that more than 30?", "--session", "shop", "--no-python", "--intent", "off",
                "--json"]) == 0
    capsys.readouterr()
    later = "\n".join(m.content for m in model.calls[2])
    assert "How many products are there?" in later and "answer: 32 products" in later
    assert run(["memory", "sessions", "shop", "--json"]) == 0
    runs = _json(capsys)["runs"]
    assert [r["kind"] for r in runs] == ["run", "run"] and runs[0]["result"]["answer"] == "32 products"
