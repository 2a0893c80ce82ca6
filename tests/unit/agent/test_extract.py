"""Code extraction from the messy replies small local models actually give."""

from __future__ import annotations

import ast

import pytest

from nativa.agent.extract import extract_code


def test_fenced_block_with_chatter_around_it() -> None:
    reply = "Sure! Here is the code:\n```python\ndef f(x):\n    return x + 1\n```\nThis adds one. Hope it helps!"
    assert extract_code(reply) == "def f(x):\n    return x + 1"


def test_unclosed_fence() -> None:
    reply = "```python\ndef f(x):\n    return x * 2\n"
    assert extract_code(reply) == "def f(x):\n    return x * 2"


def test_bare_code_without_fence_and_trailing_prose() -> None:
    reply = "Here you go.\ndef f(x):\n    return -x\nThis negates x."
    code = extract_code(reply)
    assert code == "def f(x):\n    return -x"


def test_no_code_at_all() -> None:
    assert extract_code("I cannot help with that, sorry.") is None


def test_solution_block_plus_usage_block_keeps_the_solution_only_for_entry_points() -> None:
    reply = (
        "```python\nimport math\n\ndef area(r):\n    return math.pi * r * r\n```\n"
        "Example usage:\n```python\nprint(area(2))\nassert area(1) == 3\n```"
    )
    code = extract_code(reply, entry_point="area")
    assert code is not None
    assert "def area" in code and "import math" in code
    assert "print(area(2))" not in code and "assert" not in code


def test_helper_in_its_own_block_is_kept() -> None:
    reply = "```python\ndef helper(x):\n    return x + 1\n```\nand\n```python\ndef main(x):\n    return helper(x)\n```"
    code = extract_code(reply, entry_point="main")
    assert code is not None and "def helper" in code and "def main" in code


def test_main_guard_is_removed_for_function_tasks() -> None:
    reply = "```python\ndef f():\n    return 1\n\nif __name__ == '__main__':\n    print(input())\n```"
    code = extract_code(reply, entry_point="f")
    assert code is not None and "__main__" not in code and "input" not in code
    ast.parse(code)


def test_non_python_blocks_are_ignored() -> None:
    reply = "Run:\n```bash\npip install nothing\n```\n```python\nprint('hi')\n```\nOutput:\n```\nhi\n```"
    assert extract_code(reply) == "print('hi')"


@pytest.mark.parametrize("lang", ["python", "py", "Python3", ""])
def test_language_tags(lang: str) -> None:
    assert extract_code(f"```{lang}\nx = 1\n```") == "x = 1"


def test_program_tasks_keep_top_level_statements() -> None:
    reply = "```python\nx = 5\nresult = x + 5\nprint(result)\n```"
    assert extract_code(reply) == "x = 5\nresult = x + 5\nprint(result)"
