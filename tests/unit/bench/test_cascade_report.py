"""scripts/cascade_report.py, which makes docs/benchmarks.md's cascade tables from the bench's files: the
figures it prints must be the files' own (a wrong split would misstate where the compute goes)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "cascade_report.py"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cascade_report", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(task: int, passed: bool, compute: float, escalated: bool = False) -> dict[str, Any]:
    return {"task_id": f"HumanEval/{task}", "system": "nativa", "passed_after": [passed] * 3, "output_tokens": 10,
            "wall_s": 1.0, "compute": compute, "escalated": escalated, "success": passed,
            "verified_by": "task_examples"}


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_the_split_and_the_floor_come_from_the_files(script: ModuleType, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    small = _write(tmp_path / "s.jsonl", [_row(0, True, 1.0), _row(1, False, 3.0)])
    large = _write(tmp_path / "l.jsonl", [_row(0, True, 4.0), _row(1, True, 12.0)])
    cascade = _write(tmp_path / "c.jsonl", [_row(1, True, 14.0, escalated=True), _row(0, True, 1.0)])  # any order
    assert script.main([str(small), str(large), str(cascade), "--cuts", "1"]) == 0
    out = capsys.readouterr().out
    assert "| cascade | 100.0% (2/2) | 2 | 50% (1/2) | 20 | 15 | 0.94 |" in out  # 15 / 16
    assert "| 1–1 | 1/1, 0.25 | 1/1, 1.00 | 1/1, 0.25 | 0 |" in out
    assert "escalated: 1 problems, cascade right 1, large alone 1; cascade compute 1.17x" in out  # 14 / 12
    assert "would cost 0.81x" in out  # (12 + 1) / 16: the escalated at the large model's own cost


def test_a_missing_file_is_a_clear_error(script: ModuleType, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert script.main([str(tmp_path / "none.jsonl")] * 3) == 2
    assert "none.jsonl" in capsys.readouterr().err


def test_tool_bench_rows_are_read_by_their_checked_answer(script: ModuleType, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    def tool(ident: str, correct: bool, compute: float, escalated: bool = False) -> dict[str, Any]:
        return {"id": ident, "correct": correct, "output_tokens": 5, "wall_s": 1.0, "compute": compute,
                "escalated": escalated}

    files = [_write(tmp_path / f"{name}.jsonl", rows) for name, rows in (
        ("s", [tool("sql-1", False, 1.0), tool("http-1", True, 1.0)]),
        ("l", [tool("sql-1", True, 3.0), tool("http-1", True, 3.0)]),
        ("c", [tool("sql-1", True, 4.0, escalated=True), tool("http-1", True, 1.0)]))]
    assert script.main([str(f) for f in files]) == 0
    out = capsys.readouterr().out
    assert "| small | 50.0% (1/2) | – | – |" in out and "| cascade | 100.0% (2/2) | – | 50% (1/2) |" in out
    assert "would cost 0.67x" in out  # (3 + 1) / 6
