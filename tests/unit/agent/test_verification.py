"""Issue 12: every success rests on evidence, candidates are chosen on it, and the result says which."""

from __future__ import annotations

import pytest

from nativa.agent import CodeAgent
from nativa.models import ScriptedModel
from nativa.sandbox import Sandbox

pytestmark = pytest.mark.integration  # the real sandbox runs every candidate


def fenced(code: str) -> str:
    return f"```python\n{code}\n```"


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return Sandbox()


def test_the_callers_tests_are_in_every_prompt_with_the_names_they_call(sandbox: Sandbox) -> None:
    tests = "assert pos_count([1, -2, 3]) == 2\n"
    model = ScriptedModel([fenced("def count_positive(xs):\n    return sum(x > 0 for x in xs)"),
                           *[fenced("def pos_count(xs):\n    return sum(x > 0 for x in xs)")] * 2])
    agent = CodeAgent(model, sandbox, candidates=2, timeout_s=5)
    result = agent.solve("Write a python function to count the positive numbers in a list.", tests=tests)
    assert result.success and result.verified_by == "user_tests"
    for call in model.calls:
        prompt = call[-1].content
        assert "assert pos_count([1, -2, 3]) == 2" in prompt and "pos_count" in prompt.split("tests call:")[1]
    assert "pos_count" in (result.code or "")


def test_a_sentence_task_gets_generated_checks_and_says_so(sandbox: Sandbox) -> None:
    primes25 = "print(*[p for p in range(2, 100) if all(p % d for d in range(2, p))], sep='\\n')"
    primes10 = ("ps = []\nn = 2\nwhile len(ps) < 10:\n    if all(n % d for d in range(2, n)):\n        ps.append(n)\n"
                "    n += 1\nprint(*ps, sep='\\n')")
    checks = fenced("lines = output.split()\nassert len(lines) == 10\nassert lines[0] == '2'\n"
                    "assert lines[-1] == '29'")
    model = ScriptedModel([fenced(primes25), checks, fenced(primes10), fenced(primes25)])
    agent = CodeAgent(model, sandbox, candidates=2, timeout_s=5)
    result = agent.solve("print the first 10 prime numbers, one per line")
    assert result.success and result.verified_by == "generated_tests"
    assert result.verification == "passed 3 of 3 generated checks"
    assert "len(lines) == 10" in (result.generated_tests or "")
    assert result.attempts[0].outcome == "failed" and result.attempts[1].outcome == "passed"
    assert (result.code or "").startswith("ps = []")
    # the generated checks were asked for about the program's output, after the first candidate
    assert "`output`" in model.calls[1][-1].content


def test_a_wrong_generated_test_does_not_sink_a_candidate_the_other_evidence_supports(sandbox: Sandbox) -> None:
    right = "def square(x):\n    return x * x"
    # the third generated test is wrong (3 squared is not 10): every candidate fails it
    tests = fenced("assert square(2) == 4\nassert square(0) == 0\nassert square(3) == 10")
    model = ScriptedModel([fenced(right), tests, fenced("def square(x):\n    return x + x"), fenced(right)])
    result = CodeAgent(model, sandbox, candidates=2, timeout_s=5).solve("write a function that squares a number")
    assert result.success and result.verified_by == "generated_tests"
    assert "failed by every candidate" in result.verification
    assert (result.code or "").strip() == right


def test_agreement_breaks_ties_between_candidates_that_pass_the_same_tests(sandbox: Sandbox) -> None:
    wrong = "def double(x):\n    return x * x"      # right on 2 only
    right = "def double(x):\n    return 2 * x"
    tests = fenced("assert double(2) == 4\nassert double(5) == 10")
    model = ScriptedModel([fenced(wrong), tests, fenced(right), fenced("def double(x):\n    return x + x")])
    result = CodeAgent(model, sandbox, candidates=2, timeout_s=5).solve("write a function that doubles a number")
    assert result.success and "2 * x" in (result.code or "")
    first, second = result.attempts
    assert first.outcome == "failed" and second.candidates[0].score >= second.candidates[1].score


def test_the_callers_tests_outrank_everything_else(sandbox: Sandbox) -> None:
    tests = "assert inc(1) == 2\n"
    model = ScriptedModel([fenced("def inc(x):\n    return x"),
                           fenced("def inc(x):\n    return x + 1"), fenced("def inc(x):\n    return x - 1")])
    result = CodeAgent(model, sandbox, candidates=2, timeout_s=5).solve("increment a number", tests=tests)
    assert result.success and result.verified_by == "user_tests" and "x + 1" in (result.code or "")
    assert [c.outcome for c in result.attempts[1].candidates] == ["passed", "failed"]


def test_ran_only_when_the_model_writes_no_usable_test(sandbox: Sandbox) -> None:
    model = ScriptedModel([fenced("print('hello')"), "I cannot write tests for this."])
    result = CodeAgent(model, sandbox, candidates=2, timeout_s=5).solve("greet the world")
    assert result.success and result.verified_by == "ran_only"
    assert result.verification == "ran without error, not verified"


def test_generated_tests_may_not_redefine_the_solution(sandbox: Sandbox) -> None:
    # a "test" that defines the function itself would test itself: it is dropped
    tests = fenced("def cube(x):\n    return x ** 3\nassert cube(2) == 8\nassert cube(3) == 27")
    model = ScriptedModel([fenced("def cube(x):\n    return x * 3"), tests, fenced("def cube(x):\n    return x ** 3"),
                           fenced("def cube(x):\n    return x * x * x")])
    result = CodeAgent(model, sandbox, candidates=2, timeout_s=5).solve("write a function that cubes a number")
    assert "def cube" not in (result.generated_tests or "")
    assert result.attempts[0].outcome == "failed" and result.success


def test_later_attempts_draw_several_seeded_samples(sandbox: Sandbox) -> None:
    model = ScriptedModel([fenced("raise ValueError('a')")] + [fenced("print('ok')")] * 3)
    agent = CodeAgent(model, sandbox, candidates=3, generate_tests="never", timeout_s=5)
    result = agent.solve("print ok")
    assert result.success and len(result.attempts[1].candidates) == 3
    assert model.options[0].temperature == 0.0
    assert [o.seed for o in model.options[1:]] == [2, 3, 4] and all(o.temperature > 0 for o in model.options[1:])


def test_the_first_attempt_on_a_stub_is_the_plain_call_word_for_word(sandbox: Sandbox) -> None:
    """Attempt 1 can be no worse than the one call a user would make: it is that call."""
    from nativa.bench.plain import SYSTEM, USER

    stub = 'def double(x):\n    """Double x.\n    >>> double(4)\n    8\n    """\n'
    model = ScriptedModel([fenced("def double(x):\n    return 2 * x")])
    CodeAgent(model, sandbox, candidates=2, timeout_s=5).solve(stub)
    system, user = model.calls[0]
    assert (system.role, system.content) == ("system", SYSTEM)
    assert (user.role, user.content) == ("user", USER.format(prompt=stub))
    assert model.options[0].temperature == 0.0 and model.options[0].max_tokens == 512
