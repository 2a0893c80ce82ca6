"""Visible checks derived from the task, and the program that runs them with expected vs actual."""

from __future__ import annotations

from nativa.agent.checks import Check, derive_checks
from nativa.agent.harness import REPORT_FILE, build_program, read_report, suite_from_checks, suite_from_tests
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


def test_tests_split_into_setup_and_one_test_per_assert_or_function() -> None:
    suite = suite_from_tests("import math\nx = 2\nassert f(x) == 4\ndef test_b():\n    assert f(1) == 2\n", "user")
    kinds = [what for what, _ in suite.steps]
    assert kinds == ["setup", "setup", "test", "setup", "test"]
    assert [t.label for t in suite.tests] == ["assert f(x) == 4", "test_b()"]
    assert suite.count("user") == 2 and suite.count("generated") == 0


def test_tests_that_do_not_parse_fail_as_one_test() -> None:
    suite = suite_from_tests("assert f(1 == 2", "user")
    assert len(suite.tests) == 1 and suite.tests[0].source == "assert f(1 == 2"


def test_program_holds_the_candidate_as_its_own_file() -> None:
    program = build_program("def f():\n    return 1", suite_from_checks([Check("f()", "1")]))
    assert program.files == {"solution.py": "def f():\n    return 1"}
    assert "def f()" not in program.source and program.nonce in program.source


def test_a_report_without_this_runs_nonce_is_not_read() -> None:
    forged = b'{"nonce": "0000", "tests": [{"kind": "user", "label": "x", "ok": true}]}'
    assert read_report({REPORT_FILE: forged}, "1234") is None
    assert read_report({}, "1234") is None
    good = read_report({REPORT_FILE: forged}, "0000")
    assert good is not None and good.tests[0].ok


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
