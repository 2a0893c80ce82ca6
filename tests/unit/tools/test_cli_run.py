"""`nativa run` and `nativa mcp` as commands, with a scripted model standing in for the real one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import nativa.cli as cli_package
from nativa.cli.mcp import mcp

_cli_main = cli_package.run
from nativa.cli.run import bench_tools, run

# Importing the submodule `nativa.cli.run` for the first time rebinds the package attribute `nativa.cli.run`
# (the in-process CLI entry point other tests call) to the module; put the function back. Once the command is
# registered in nativa/cli/__init__.py (imported there before `def run`), this line changes nothing.
cli_package.run = _cli_main  # type: ignore[attr-defined]
from nativa.errors import BadInputError
from nativa.models import ScriptedModel

app = typer.Typer()
app.command("run")(run)
app.command("mcp")(mcp)
app.command("bench-tools")(bench_tools)


def _script(monkeypatch: pytest.MonkeyPatch, replies: list[str]) -> ScriptedModel:
    model = ScriptedModel(replies)
    monkeypatch.setattr("nativa.cli._runtime.open_model", lambda name, cfg: model)
    return model


def test_run_answers_from_the_sample_database_by_default_and_prints_json(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _script(monkeypatch, ['{"tool": "sql", "arguments": {"query": "SELECT COUNT(*) FROM products"}}',
                                  '{"tool": "final_answer", "arguments": {"answer": "32 products"}}'])
    result = CliRunner().invoke(app, ["run", "How many products are there?", "--json", "--no-python"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["answer"] == "32 products" and "trace_id" in data
    assert data["steps"][0]["tool"] == "sql" and data["steps"][0]["observation"].endswith("32\n(1 row)")
    assert set(data["steps"][0]) >= {"tool", "arguments", "observation", "error"}
    assert data["intent"]["kind"] == "sql" and data["intent"]["source"] == "rule"
    assert "TABLE products" in model.calls[0][0].content


def test_run_prints_the_answer_and_the_steps(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "pets.db"
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE pets (name TEXT, species TEXT); INSERT INTO pets VALUES ('Rex', 'dog');")
    conn.close()
    _script(monkeypatch, ['{"tool": "sql", "arguments": {"query": "SELECT name FROM pets"}}',
                          '{"tool": "final_answer", "arguments": {"answer": "Rex"}}'])
    result = CliRunner().invoke(app, ["run", "Which pets are there?", "--db", f"sqlite:///{path}", "--no-python"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == "Rex"


def test_an_unclear_request_gets_a_question_back_without_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _script(monkeypatch, [])
    result = CliRunner().invoke(app, ["run", "help", "--no-python"])
    assert result.exit_code == 0 and "Could you say more" in result.stdout and model.calls == []


def test_no_answer_exits_1_and_bad_flags_are_bad_input(monkeypatch: pytest.MonkeyPatch) -> None:
    _script(monkeypatch, ['{"tool": "sql", "arguments": {"query": "SELECT nope FROM products"}}'] * 3)
    failed = CliRunner().invoke(app, ["run", "What colour are the products?", "--no-python", "--max-steps", "1"])
    assert failed.exit_code == 1 and "no answer" in failed.output
    _script(monkeypatch, [])
    bad = CliRunner().invoke(app, ["run", "x y z", "--intent", "psychic"])
    assert isinstance(bad.exception, BadInputError) and "valid: auto, rules, off" in str(bad.exception)
    bad_db = CliRunner().invoke(app, ["run", "count the rows", "--db", "sqlite:///no/such/file.db"])
    assert isinstance(bad_db.exception, BadInputError) and bad_db.exception.exit_code == 2
    bad_host = CliRunner().invoke(app, ["run", "x", "--allow-host", "*"])
    assert isinstance(bad_host.exception, BadInputError)


def test_commands_document_their_flags() -> None:
    runner = CliRunner()
    text = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "200"}).stdout
    for flag in ("--db", "--allow-host", "--allow-private", "--allow-writes", "--model", "--json", "--mcp"):
        assert flag in text
    assert "--http" in runner.invoke(app, ["mcp", "--help"], env={"COLUMNS": "200"}).stdout
    bench = runner.invoke(app, ["bench-tools", "--only", "ftp"])
    assert isinstance(bench.exception, BadInputError) and "valid: sql, http" in str(bench.exception)
