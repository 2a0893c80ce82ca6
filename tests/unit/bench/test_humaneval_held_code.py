"""HumanEval scores the code the agent would hand back after each attempt, not simply the newest code."""

from __future__ import annotations

from nativa.agent.result import AgentResult, Attempt
from nativa.bench.humaneval import _codes_after


def attempt(number: int, code: str, failed_checks: int | None, passed: bool = False) -> Attempt:
    return Attempt(number=number, strategy="generate" if number == 1 else "regenerate", code=code,
                   outcome="passed" if passed else "failed", failed_checks=failed_checks)


def test_held_code_is_the_best_so_far_and_carries_over_after_a_stop() -> None:
    result = AgentResult(success=True, code="c", task="t", attempts=[
        attempt(1, "a", 1), attempt(2, "b", 3), attempt(3, "c", None, passed=True)])
    assert _codes_after(result, 4) == ["a", "a", "c", "c"]


def test_unchecked_failures_keep_the_latest_code() -> None:
    result = AgentResult(success=False, code="b", task="t", attempts=[attempt(1, "a", None), attempt(2, "b", None)])
    assert _codes_after(result, 2) == ["a", "b"]
