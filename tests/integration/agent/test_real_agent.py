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


def test_demo_sentence_task_prints_exactly_ten_primes_and_says_what_verified_it(real_settings: Settings) -> None:
    """`make demo`'s second job: a sentence with no examples is checked by tests the model wrote first."""
    import json
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "nativa", "code", "print the first 10 prime numbers, one per line", "--json"],
        capture_output=True, text=True, timeout=900, check=False,
        env={"PATH": "/usr/bin:/bin", "NATIVA_HOME": str(real_settings.home), "NATIVA_N_CTX": "4096"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    lines = result["stdout"].split()
    assert lines == ["2", "3", "5", "7", "11", "13", "17", "19", "23", "29"], result["stdout"]
    assert result["success"] and result["verified_by"] == "generated_tests", result["verification"]
    assert result["generated_tests"]
