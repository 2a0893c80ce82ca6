"""Visible checks derived from the task, and the program that runs them with expected vs actual."""

from __future__ import annotations

from nativa.agent.checks import Check, derive_checks
from nativa.agent.harness import build_program, failed_count, rewrite_asserts
from nativa.agent.task import TaskContext

STUB = '''from typing import List


def helper(x):
    return x


def add_all(xs: List[int]) -> int:
    """Sum the numbers.
    >>> add_all([1, 2])
    3
    add_all([]) == 0
    add_all([5]) ➞ 5
    add_all([2, 2]) => 4.
    >>> add_all(some_var)
    oops not a literal
    """
'''


def test_checks_from_doctest_and_arrow_forms() -> None:
    checks = derive_checks(STUB, "add_all")
    assert checks == [
        Check("add_all([1, 2])", "3"),
        Check("add_all([])", "0"),
        Check("add_all([5])", "5"),
        Check("add_all([2, 2])", "4"),
    ]


def test_true_false_words_and_worked_examples_are_normalised() -> None:
    task = "is_even(2) => true\nis_even(3) => false\nsub(5, 3) -> 5 - 3 = 2"
    assert derive_checks(task) == [Check("is_even(2)", "True"), Check("is_even(3)", "False"),
                                   Check("sub(5, 3)", "2")]


def test_no_checks_from_plain_prose() -> None:
    assert derive_checks("Write a program that prints the first ten primes.") == []


def test_context_detects_stub_entry_point_and_restores_imports_and_helpers() -> None:
    ctx = TaskContext.from_task(STUB)
    assert ctx.entry_point == "add_all" and ctx.stub == STUB and len(ctx.checks) == 4
    completed = ctx.complete("def add_all(xs: List[int]) -> int:\n    return sum(helper(x) for x in xs)")
    assert "from typing import List" in completed and "def helper" in completed
    body_only = ctx.complete("    return sum(xs)")
    assert body_only.startswith(STUB.rstrip("\n")) and body_only.endswith("return sum(xs)")


def test_given_tests_replace_derived_checks() -> None:
    ctx = TaskContext.from_task(STUB, tests="assert add_all([1]) == 1")
    assert ctx.checks == [] and ctx.tests


def test_rewritten_asserts_report_both_sides() -> None:
    src = rewrite_asserts("assert f(1) == 2\nassert g, 'kept message'\n")
    namespace: dict = {"f": lambda x: x + 2, "g": True}
    try:
        exec(compile(src, "<tests>", "exec"), namespace)  # test-authored code only, never model output
    except AssertionError as exc:
        assert str(exc) == "assert f(1) == 2: left is 3, right is 2"
    else:
        raise AssertionError("the rewritten assert should have failed")


def test_program_layout_puts_candidate_code_first() -> None:
    program = build_program("def f():\n    return 1", checks=[Check("f()", "1")], tests="def test_a():\n    assert f() == 1")
    assert program.source.startswith("def f():\n    return 1\n")
    assert program.code_lines == 2
    assert "__nativa_check('f()'" in program.source and "test_" in program.source


FORMS = '''def pick(arr, k):
    """Examples in the forms real docstrings use.
    pick([1, 2], 1) ==> [2]
    >>> pick([3], 1) == [3]
    assert pick([], 0) => []
    pick([5, 4], 1) # => [5] (the largest one)
    For arr = [7, 8], k = 2 the output should be [7, 8]
    Example:
        Input: arr = [1, 9, 2], k = 1
        Output: [9]
    Example with one name per line:
        Input:
            arr : [4, 6]
            k : 1
        Output: [6]
    pick(arr, k) ==> a list       (prose with names, not a check)
    """
'''


def test_checks_from_arrow_for_and_input_output_forms() -> None:
    assert derive_checks(FORMS, "pick") == [
        Check("pick([1, 2], 1)", "[2]"),
        Check("pick([3], 1)", "[3]"),
        Check("pick([], 0)", "[]"),
        Check("pick([5, 4], 1)", "[5]"),
        Check("pick(arr=[7, 8], k=2)", "[7, 8]"),
        Check("pick(arr=[1, 9, 2], k=1)", "[9]"),
        Check("pick(arr=[4, 6], k=1)", "[6]"),
    ]


def test_single_argument_under_another_name_is_passed_by_position() -> None:
    task = 'def total(xs):\n    """Sum.\n    For lst = [1, 2] the output should be 3\n    Input: [4]\n    Output: 4\n    """\n'
    assert derive_checks(task, "total") == [Check("total([1, 2])", "3"), Check("total([4])", "4")]


def test_comments_do_not_leak_into_checks() -> None:
    task = 'def f(x):\n    """\n    >>> round(f(2), 2) # f(x) = x / 2\n    1.0\n    f(3) ==> 24 # sum of 21 + 3\n    """\n'
    assert derive_checks(task, "f") == [Check("round(f(2), 2)", "1.0"), Check("f(3)", "24")]


def test_failed_count_reads_the_harness_messages() -> None:
    assert failed_count("AssertionError", "2 of 5 checks failed: f(1) returned 2, expected 3") == 2
    assert failed_count("AssertionError", "1 test(s) failed: test_a: AssertionError") == 1
    assert failed_count("AssertionError", "assert x == 1") is None
    assert failed_count("ValueError", "2 of 5 checks failed") is None
