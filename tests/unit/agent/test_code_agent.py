"""The repair loop with a scripted model and the real sandbox: each test scripts what a model would say."""

from __future__ import annotations

import pytest

from nativa.agent import CodeAgent
from nativa.errors import BadInputError
from nativa.models import ScriptedModel
from nativa.sandbox import Sandbox


def fenced(code: str, chatter: str = "Here is the code:") -> str:
    return f"{chatter}\n```python\n{code}\n```\nThis should work."


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return Sandbox()


def agent(model: ScriptedModel, sandbox: Sandbox, **kw: object) -> CodeAgent:
    """One candidate per attempt and no generated tests unless a test asks: each reply is scripted."""
    kw.setdefault("candidates", 1)
    kw.setdefault("generate_tests", "never")
    return CodeAgent(model, sandbox, timeout_s=kw.pop("timeout_s", 5.0), **kw)  # type: ignore[arg-type]


def test_success_first_try(sandbox: Sandbox) -> None:
    model = ScriptedModel([fenced("print(sum(range(10)))")])
    result = agent(model, sandbox).solve("print the sum of 0..9")
    assert result.success and result.stop_reason == "passed"
    assert len(result.attempts) == 1 and result.attempts[0].outcome == "passed"
    assert result.code == "print(sum(range(10)))"
    assert model.remaining == 0


def test_fix_repairs_name_error_with_the_error_fed_back(sandbox: Sandbox) -> None:
    broken = "result = x + 5\nprint(result)"
    model = ScriptedModel([fenced("x = 10\nresult = x + 5\nprint(result)")])
    result = agent(model, sandbox).fix(broken)
    assert result.success
    given, repaired = result.attempts
    assert given.strategy == "given" and given.error_type == "NameError" and "'x'" in (given.error_message or "")
    assert repaired.strategy != "given" and repaired.outcome == "passed"
    prompt = model.calls[0][-1].content
    assert "result = x + 5" in prompt and "NameError" in prompt and "name 'x' is not defined" in prompt


def test_working_code_given_to_fix_needs_no_model(sandbox: Sandbox) -> None:
    model = ScriptedModel([])
    result = agent(model, sandbox).fix("print('fine')")
    assert result.success and len(result.attempts) == 1 and model.calls == []


def test_repair_after_a_failing_test_shows_expected_vs_actual(sandbox: Sandbox) -> None:
    tests = "assert add(2, 3) == 5\n"
    model = ScriptedModel([fenced("def add(a, b):\n    return a * b"), fenced("def add(a, b):\n    return a + b")])
    result = agent(model, sandbox).solve("write add(a, b)", tests=tests)
    assert result.success and [a.outcome for a in result.attempts] == ["failed", "passed"]
    first = result.attempts[0]
    assert first.error_type == "AssertionError"
    feedback = model.calls[1][-1].content
    assert "left is 6, right is 5" in feedback
    assert result.attempts[1].strategy == "regenerate"  # solve starts over with the failure in view


def test_fix_shows_the_model_its_failed_repair(sandbox: Sandbox) -> None:
    model = ScriptedModel([fenced("def add(a, b):\n    return a * b"), fenced("def add(a, b):\n    return a + b")])
    result = agent(model, sandbox).fix("def add(a, b):\n    return a - b", tests="assert add(2, 3) == 5\n")
    assert result.success and [a.strategy for a in result.attempts] == ["given", "repair", "repair"]
    feedback = model.calls[1][-1].content
    assert "return a * b" in feedback and "left is 6, right is 5" in feedback


def test_checks_derived_from_the_docstring_drive_repair(sandbox: Sandbox) -> None:
    stub = 'def double(x):\n    """Double x.\n    >>> double(4)\n    8\n    """\n'
    model = ScriptedModel([fenced("def double(x):\n    return x + 2"), fenced("def double(x):\n    return 2 * x")])
    result = agent(model, sandbox).solve(stub)
    assert result.checks == ["double(4) == 8"]
    assert result.success and len(result.attempts) == 2
    assert "double(4) returned 6, expected 8" in model.calls[1][-1].content


def test_repeated_identical_error_switches_strategy_then_stops(sandbox: Sandbox) -> None:
    same = fenced("raise ValueError('always the same')")
    model = ScriptedModel([same, same, same, same, same])
    result = agent(model, sandbox, max_attempts=5).solve("do something")
    strategies = [a.strategy for a in result.attempts]
    assert strategies == ["generate", "regenerate", "repair"]
    assert result.stop_reason == "repeated_error" and not result.success
    switched = model.calls[2][-1].content  # the other strategy: the failed code and its error
    assert "always the same" in switched and "raise ValueError" in switched
    assert model.remaining == 2  # it stopped instead of looping to max_attempts


def test_keeps_the_attempt_closest_to_passing_its_checks(sandbox: Sandbox) -> None:
    stub = ('def double(x):\n    """Double x.\n    >>> double(1)\n    2\n    >>> double(2)\n    4\n'
            '    >>> double(5)\n    10\n    """\n')
    near = "def double(x):\n    return x * 2 if x < 5 else 0"   # misses one check
    worse = "def double(x):\n    return x + 2"                    # misses two
    model = ScriptedModel([fenced(near), fenced(worse), fenced(worse + "\n")])
    result = agent(model, sandbox).solve(stub)
    assert [a.failed_checks for a in result.attempts] == [1, 2, 2]
    assert not result.success and (result.code or "").strip() == near


def test_stops_at_max_attempts(sandbox: Sandbox) -> None:
    model = ScriptedModel([fenced(f"raise ValueError('{i}')") for i in range(3)])
    result = agent(model, sandbox, max_attempts=2).solve("x")
    assert len(result.attempts) == 2 and result.stop_reason == "max_attempts" and not result.success


def test_reply_without_code_is_told_so(sandbox: Sandbox) -> None:
    model = ScriptedModel(["I am not sure what you mean.", fenced("print(1)")])
    result = agent(model, sandbox).solve("print 1")
    assert result.attempts[0].outcome == "no_code" and result.success
    assert "no Python code" in model.calls[1][-1].content


def test_timeout_in_user_code_is_reported_and_repaired(sandbox: Sandbox) -> None:
    model = ScriptedModel([fenced("while True:\n    pass"), fenced("print('done')")])
    result = agent(model, sandbox, timeout_s=1.0).solve("print done")
    first = result.attempts[0]
    assert first.killed_by == "timeout" and first.outcome == "failed"
    assert "ran too long" in model.calls[1][-1].content
    assert result.success


def test_result_accounts_tokens_and_time(sandbox: Sandbox) -> None:
    model = ScriptedModel([fenced("print(2)")])
    result = agent(model, sandbox).solve("print 2")
    assert result.output_tokens > 0 and result.wall_s >= result.model_s + result.sandbox_s
    data = result.to_dict()
    assert {"success", "code", "attempts", "trace_id", "overhead_s"} <= data.keys()


def test_empty_task_is_bad_input(sandbox: Sandbox) -> None:
    with pytest.raises(BadInputError, match="task is empty"):
        agent(ScriptedModel([]), sandbox).solve("  ")


def test_retries_sample_instead_of_repeating_greedy_output(sandbox: Sandbox) -> None:
    model = ScriptedModel([fenced("raise ValueError('a')"), fenced("print('ok')")])
    result = agent(model, sandbox, temperature=0.0, retry_temperature=0.7).solve("print ok")
    assert result.success
    assert model.options[0].temperature == 0.0
    # starting over is sampled hotter than a repair, so it does not land on the same answer
    assert model.options[1].temperature == 1.0 and model.options[1].seed == 2


def test_check_failures_are_reported_without_the_harness_traceback(sandbox: Sandbox) -> None:
    stub = 'def double(x):\n    """Double x.\n    >>> double(4)\n    8\n    """\n'
    model = ScriptedModel([fenced("def double(x):\n    return x + 2"), fenced("def double(x):\n    return 2 * x")])
    agent(model, sandbox).solve(stub)
    feedback = model.calls[1][-1].content
    assert "double(4) returned 6, expected 8" in feedback
    assert "__nativa" not in feedback and "Traceback" not in feedback


def test_user_code_errors_keep_their_traceback(sandbox: Sandbox) -> None:
    model = ScriptedModel([fenced("def f():\n    return 1 / 0\n\nf()"), fenced("print(1)")])
    agent(model, sandbox).solve("print 1")
    feedback = model.calls[1][-1].content
    assert "ZeroDivisionError" in feedback and 'line 2, in f' in feedback and "Traceback" in feedback


def test_fix_first_model_attempt_is_greedy(sandbox: Sandbox) -> None:
    model = ScriptedModel([fenced("x = 1\nresult = x + 5\nprint(result)")])
    agent(model, sandbox, temperature=0.0, retry_temperature=0.7).fix("result = x + 5\nprint(result)")
    assert model.options[0].temperature == 0.0
