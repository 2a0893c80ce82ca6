"""A sentence-task run stopped halfway goes on from its --out file: a task both systems finished is kept, a
task only one finished runs again for both (so the pair always compares the same tasks)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from nativa.bench import sentence
from nativa.bench.sentence import SentenceResult, load_sentence_tasks, read_results
from nativa.cli import run
from nativa.models import ScriptedModel


def _row(task: str, system: str, passed: bool) -> SentenceResult:
    return SentenceResult(id=task, system=system, passed=passed, claimed=passed, verified_by=None, attempts=1,
                          output_tokens=7, wall_s=1.0, code="x = 1\n")


def test_resume_runs_only_the_tasks_not_finished_by_both_systems(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    first, second, third = (t.id for t in load_sentence_tasks()[:3])
    out = tmp_path / "s.jsonl"
    out.write_text("".join(json.dumps(asdict(r)) + "\n" for r in
                           [_row(first, "plain", False), _row(first, "nativa", True), _row(second, "plain", True)]))
    ran: list[tuple[str, str]] = []

    def plain(task: sentence.SentenceTask, *_: object) -> SentenceResult:
        ran.append(("plain", task.id))
        return _row(task.id, "plain", False)

    def agent(task: sentence.SentenceTask, *_: object) -> SentenceResult:
        ran.append(("nativa", task.id))
        return _row(task.id, "nativa", True)

    monkeypatch.setattr(sentence, "run_plain_task", plain)
    monkeypatch.setattr(sentence, "run_nativa_task", agent)
    monkeypatch.setattr("nativa.cli._runtime.open_model", lambda name, cfg: ScriptedModel([]))
    monkeypatch.setattr("nativa.cli._runtime.open_sandbox", lambda cfg, pool_size=2: object())
    assert run(["bench", "sentences", "--limit", "3", "--resume", "--out", str(out), "--json"]) == 0
    assert ran == [("plain", second), ("nativa", second), ("plain", third), ("nativa", third)]
    summary = json.loads(capsys.readouterr().out)["systems"]
    assert summary["nativa"]["tasks"] == 3 and summary["nativa"]["passed"] == 3
    assert summary["plain"]["tasks"] == 3 and summary["plain"]["passed"] == 0  # the rerun row replaces the old
    assert set(read_results(out)) == {(s, t) for s in ("plain", "nativa") for t in (first, second, third)}


def test_resume_without_out_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["bench", "sentences", "--resume"]) != 0
    assert "--resume needs --out" in capsys.readouterr().err
