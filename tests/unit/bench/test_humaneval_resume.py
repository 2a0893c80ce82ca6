"""A HumanEval run stopped halfway goes on from its --out file: finished problems are kept, not run again."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from nativa.bench._stats import write_jsonl
from nativa.bench.humaneval import ProblemResult, read_jsonl
from nativa.errors import BadInputError


def _result(task: str, system: str, ok: bool) -> ProblemResult:
    return ProblemResult(task_id=task, system=system, passed_after=[ok, ok, ok], attempts=1, stop_reason="passed",
                         input_tokens=10, output_tokens=20, wall_s=1.0, model_s=0.9, sandbox_s=0.1,
                         overhead_s=0.0, checks=0, code="x = 1\n")


def test_results_written_by_the_bench_are_read_back_per_system_and_task(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    write_jsonl(path, [_result("HumanEval/0", "plain", True), _result("HumanEval/0", "nativa", False),
                       _result("HumanEval/1", "plain", False)])
    done = read_jsonl(path)
    assert set(done) == {("plain", "HumanEval/0"), ("nativa", "HumanEval/0"), ("plain", "HumanEval/1")}
    assert done[("nativa", "HumanEval/0")] == _result("HumanEval/0", "nativa", False)


def test_a_torn_last_line_is_dropped_and_a_torn_middle_line_named(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    good = json.dumps(asdict(_result("HumanEval/0", "plain", True)))
    path.write_text(good + "\n" + good[:40] + "\n", encoding="utf-8")
    assert set(read_jsonl(path)) == {("plain", "HumanEval/0")}
    path.write_text(good[:40] + "\n" + good + "\n", encoding="utf-8")
    with pytest.raises(BadInputError, match=r"out\.jsonl:1"):
        read_jsonl(path)


def test_no_file_yet_means_nothing_done(tmp_path: Path) -> None:
    assert read_jsonl(tmp_path / "missing.jsonl") == {}
