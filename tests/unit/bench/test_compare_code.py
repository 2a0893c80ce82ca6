"""The peer's code is scored as a function, without the calls that only its own runtime can run."""

from __future__ import annotations

import ast

import pytest

pytest.importorskip("smolagents", reason="the bench extra (smolagents) is not installed")

from nativa.bench.compare import definitions_only


def test_final_answer_and_example_calls_are_dropped() -> None:
    code = (
        "import math\n\nLIMIT = 10\n\n@staticmethod\ndef helper(x):\n    return x\n\n"
        "def mad(xs):\n    m = sum(xs) / len(xs)\n    return sum(abs(x - m) for x in xs) / len(xs)\n\n"
        "result = mad([1.0, 2.0])\nprint(result)\nfinal_answer(__file__)\n"
    )
    kept = definitions_only(code)
    assert "final_answer" not in kept and "print(" not in kept and "result =" not in kept
    assert "import math" in kept and "LIMIT = 10" in kept and "@staticmethod\ndef helper" in kept
    tree = ast.parse(kept)
    assert [type(n).__name__ for n in tree.body] == ["Import", "Assign", "FunctionDef", "FunctionDef"]
    assert "return sum(abs(x - m) for x in xs) / len(xs)" in kept


def test_code_without_top_level_use_and_code_that_does_not_parse_are_unchanged() -> None:
    clean = "def f():\n    return 1\n"
    assert definitions_only(clean) == clean
    broken = 'def f():\n    """doc"""\\n    return 1\nfinal_answer(f)\n'
    assert definitions_only(broken) == broken
