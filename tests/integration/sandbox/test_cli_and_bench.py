"""`nativa sandbox run` against real sandboxes (exit 0 / 1 / 2, JSON) and a short `nativa bench sandbox`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from nativa.bench.sandbox import run_sandbox_bench

pytestmark = pytest.mark.integration

Invoke = Callable[[list[str]], int]


def test_run_success_prints_the_codes_output(invoke: Invoke, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "hello.py"
    script.write_text("print('hello from the sandbox')\n")
    assert invoke(["run", str(script)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "hello from the sandbox\n" and "ok, exit 0" in captured.err


def test_run_failure_exits_1_with_json(invoke: Invoke, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "broken.py"
    script.write_text("x = 1\nraise ValueError('nope')\n")
    assert invoke(["run", str(script), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["error_type"] == "ValueError" and data["exit_code"] == 1
    assert 'File "broken.py", line 2, in <module>' in data["traceback"]


def test_run_timeout_flag(invoke: Invoke, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "slow.py"
    script.write_text("while True:\n    pass\n")
    assert invoke(["run", str(script), "--timeout", "0.5", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["killed_by"] == "timeout"


def test_bench_measures_all_modes() -> None:
    result = run_sandbox_bench(3)
    for value in (result.plain_s, result.oneshot_s, result.pooled_s, result.session_s):
        assert 0 < value < 5
    assert set(result.ratios) == {"oneshot", "pooled", "session"}
    assert result.session_s < result.oneshot_s  # a live interpreter is faster than a fresh sandbox
    assert json.loads(json.dumps(result.to_dict()))["tier"] == result.tier
