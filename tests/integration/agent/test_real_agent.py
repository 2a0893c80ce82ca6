"""The real embedded 0.5B model repairs real code in the real sandbox (marked integration)."""

from __future__ import annotations

import pytest

from nativa.agent import CodeAgent
from nativa.config import Settings
from nativa.models import resolve_model
from nativa.sandbox import Sandbox

pytestmark = pytest.mark.integration


def test_real_model_fixes_a_buggy_function(real_settings: Settings) -> None:
    model = resolve_model("small", real_settings)
    buggy = "def average(xs):\n    return sum(xs) / len(xz)\n\nprint(average([1, 2, 3]))\n"
    tests = "assert average([2, 4]) == 3\nassert average([5]) == 5\n"
    agent = CodeAgent(model, Sandbox(), max_attempts=3, max_tokens=256, timeout_s=10)
    result = agent.fix(buggy, task="compute the average of a list of numbers", tests=tests)
    assert result.attempts[0].error_type == "NameError"
    assert result.success, [(a.outcome, a.error_type, a.error_message, a.code) for a in result.attempts]
    assert result.code is not None and "len(xz)" not in result.code
