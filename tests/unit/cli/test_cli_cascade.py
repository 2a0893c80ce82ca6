"""`--model cascade` from the commands: the JSON carries the cost per stage and the escalations, `nativa code`
takes `--small-attempts`, and `nativa bench humaneval` measures several models side by side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.cascade_doubles import scripted_cascade
from unit.serve.helpers import FakeSandbox, fenced

from nativa.cli import run
from nativa.models import ScriptedModel
from nativa.models.base import ChatModel
from nativa.models.cascade import CascadeModel

GOOD = fenced("def add(a, b):\n    return a + b")
BAD = fenced("def add(a, b):\n    return a * b")


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    chosen: dict[str, Any] = {}
    monkeypatch.setattr("nativa.cli._runtime.open_model", lambda name, cfg: chosen[name or "small"])
    monkeypatch.setattr("nativa.cli._runtime.open_sandbox", lambda cfg, pool_size=1: FakeSandbox())
    return chosen


def test_code_json_carries_cost_escalations_and_answered_by(fakes: dict[str, Any], tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    tests = tmp_path / "t.py"
    tests.write_text("assert add(2, 3) == 5\n")
    fakes["cascade"], built = scripted_cascade([BAD, BAD], [GOOD])
    code = run(["code", "write add(a, b)", "--tests", str(tests), "--model", "cascade", "--small-attempts", "2",
                "--candidates", "1", "--max-attempts", "1", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["success"] and data["answered_by"] == "large" and built == ["small", "large"]
    assert [a["model"] for a in data["attempts"]] == ["small", "small", "large"]  # --small-attempts 2
    assert [(e["from"], e["to"], e["reason"]) for e in data["escalations"]] == [("small", "large", "checks_failed")]
    stages = data["cost"]["stages"]
    assert [s["model"] for s in stages] == ["small", "large"]
    assert set(stages[0]) == {"model", "input_tokens", "output_tokens", "model_s", "compute", "price"}
    assert data["cost"]["total"]["output_tokens"] == stages[0]["output_tokens"] + stages[1]["output_tokens"]


def test_code_text_output_names_the_escalation(fakes: dict[str, Any], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    tests = tmp_path / "t.py"
    tests.write_text("assert add(2, 3) == 5\n")
    fakes["cascade"], _ = scripted_cascade([BAD], [GOOD])
    assert run(["code", "write add(a, b)", "--tests", str(tests), "--model", "cascade", "--candidates", "1",
                "--max-attempts", "1"]) == 0
    err = capsys.readouterr().err
    assert "escalated small -> large" in err and "answered by large" in err


def test_a_single_model_has_one_cost_stage_in_the_json(fakes: dict[str, Any], tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    tests = tmp_path / "t.py"
    tests.write_text("assert add(2, 3) == 5\n")
    fakes["small"] = ScriptedModel([GOOD], name="small")
    assert run(["code", "write add(a, b)", "--tests", str(tests), "--json", "--candidates", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [s["model"] for s in data["cost"]["stages"]] == ["small"] and data["escalations"] == []


def test_run_json_carries_the_cost_per_stage(fakes: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    fakes["cascade"], built = scripted_cascade(
        ['{"tool": "sql", "arguments": {"query": "SELECT COUNT(*) FROM products"}}',
         '{"tool": "final_answer", "arguments": {"answer": "32 products"}}'], [])
    assert run(["run", "How many products are there?", "--json", "--no-python", "--model", "cascade"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["answer"] == "32 products" and data["answered_by"] == "small" and data["escalations"] == []
    assert [s["model"] for s in data["cost"]["stages"]] == ["small", "large"] and built == ["small"]
    assert data["cost"]["stages"][1]["output_tokens"] == 0 and data["cost"]["stages"][0]["output_tokens"] > 0


def test_a_bad_cascade_stage_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["code", "write add", "--model", "cascade:small,tiny"]) == 2
    assert "cascade stage 'tiny'" in capsys.readouterr().err


def test_bench_humaneval_measures_several_models_side_by_side(fakes: dict[str, Any], tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from nativa.bench import humaneval

    problem = {"task_id": "HumanEval/0", "entry_point": "add", "test": "",
               "prompt": 'def add(a, b):\n    """Add two numbers."""\n'}  # no examples: nothing verifies it
    monkeypatch.setattr(humaneval, "load_problems", lambda limit=None, ids=None: [problem])
    monkeypatch.setattr(humaneval, "score", lambda sandbox, problem, code, timeout_s=10.0: "a + b" in (code or ""))
    fakes["small"] = ScriptedModel([BAD, "no tests"], name="small")  # the code, then the tests asked for
    fakes["cascade"], _ = scripted_cascade([BAD, "no tests"], [GOOD, "no tests"])
    out = tmp_path / "he.jsonl"
    assert run(["bench", "humaneval", "-m", "small", "-m", "cascade", "--attempts", "1", "--candidates", "1",
                "--out", str(out), "--json"]) == 0
    small, cascade = json.loads(capsys.readouterr().out)
    assert (small["model"], cascade["model"]) == ("small", "cascade:small,large")
    assert small["pass_at_1_after"] == [0.0] and cascade["pass_at_1_after"] == [1.0]
    assert small["escalated_share"] == 0.0 and cascade["escalated_share"] == 1.0
    assert cascade["total_output_tokens"] > small["total_output_tokens"] > 0
    assert {Path(small["results_file"]).name, Path(cascade["results_file"]).name} == {
        "he-small.jsonl", "he-cascade_small_large.jsonl"}  # each model keeps its own results for --resume


def test_code_progress_says_when_the_next_stage_takes_over(fakes: dict[str, Any], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    tests = tmp_path / "t.py"
    tests.write_text("assert add(2, 3) == 5\n")
    fakes["cascade"], _ = scripted_cascade([BAD], [GOOD])
    run(["code", "write add(a, b)", "--tests", str(tests), "--model", "cascade", "--candidates", "1",
         "--max-attempts", "1"])
    err = capsys.readouterr().err
    assert err.count("escalating to large") == 1 and err.index("escalating to large") > err.index("attempt 1")


def test_bench_tools_summary_has_the_cascade_columns() -> None:
    from nativa.bench.tools import TaskResult, summarise

    rows = [TaskResult(id=str(i), kind="sql", model="cascade:small,large", correct=True, expected="1", answer="1",
                       steps=1, model_calls=2, stop_reason="final_answer", intent="sql", wall_s=1.5,
                       output_tokens=10, escalated=i == 0, compute=100.0) for i in range(4)]
    s = summarise("cascade:small,large", rows)
    assert (s.escalated_share, s.total_output_tokens, s.total_compute, s.total_wall_s) == (0.25, 40, 400.0, 6.0)


def test_a_session_marked_local_only_keeps_its_runs_off_remote_stages(fakes: dict[str, Any], tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from support.embedder import WordHashEmbedder

    from nativa.cli._common import settings
    from nativa.memory import open_memory

    monkeypatch.setattr("nativa.cli._runtime.open_memory_store",
                        lambda cfg: open_memory(cfg, embedder=WordHashEmbedder()))
    open_memory(settings(), embedder=WordHashEmbedder()).session("private", create=True,
                                                                  metadata={"local_only": True})
    built: list[str] = []

    def factory(stage: str) -> ChatModel:
        built.append(stage)
        model = ScriptedModel([BAD], name=stage)
        model.remote = stage.startswith("openai:")  # type: ignore[misc]
        return model

    fakes["cascade:small,openai:big"] = CascadeModel(("small", "openai:big"), factory)
    tests = tmp_path / "t.py"
    tests.write_text("assert add(2, 3) == 5\n")
    run(["code", "write add(a, b)", "--tests", str(tests), "--model", "cascade:small,openai:big", "--candidates",
         "1", "--max-attempts", "1", "--session", "private", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert built == ["small"] and data["escalations"] == [] and data["answered_by"] == "small"
