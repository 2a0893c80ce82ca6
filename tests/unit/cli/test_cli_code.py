"""`nativa code` shows each attempt live: what it is doing, what failed, and what the model changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from nativa.cli import run
from nativa.cli.code import describe_change
from nativa.models import ScriptedModel


def test_change_lists_added_and_removed_lines() -> None:
    lines = describe_change("result = x + 5\nprint(result)", "x = 10\nresult = x + 5\nprint(result)")
    assert lines == ["change: +1 -0 lines", "+x = 10"]
    assert describe_change("a = 1", "a = 1") == ["change: none (the same code again)"]
    many = describe_change("", "\n".join(f"v{i} = {i}" for i in range(10)), limit=3)
    assert many[0] == "change: +10 -0 lines" and many[-1] == "... 7 more changed lines" and len(many) == 5


def test_fix_shows_the_failure_the_change_and_the_final_code(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("result = x + 5\nprint(result)\n")
    model = ScriptedModel(["```python\nx = 10\nresult = x + 5\nprint(result)\n```"])
    monkeypatch.setattr("nativa.cli._runtime.open_model", lambda name, cfg: model)
    assert run(["code", "--fix", str(broken)]) == 0
    captured = capsys.readouterr()
    assert "attempt 0" in captured.err and "NameError: name 'x' is not defined" in captured.err
    assert "change: +1 -0 lines" in captured.err and "+x = 10" in captured.err
    assert "solved after 2 attempt(s)" in captured.err and "x = 10" in captured.out and "15" in captured.out


def test_unsolved_run_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    tests = tmp_path / "tests.py"
    tests.write_text("assert add(2, 3) == 5\n")
    model = ScriptedModel(["```python\ndef add(a, b):\n    return a * b\n```"] * 3)
    monkeypatch.setattr("nativa.cli._runtime.open_model", lambda name, cfg: model)
    assert run(["code", "write add(a, b)", "--tests", str(tests), "--max-attempts", "3", "--candidates", "1"]) == 1
    err = capsys.readouterr().err
    assert "left is 6, right is 5" in err and "not solved" in err
    assert "change: none (the same code again)" in err
