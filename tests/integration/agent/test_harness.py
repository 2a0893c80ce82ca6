"""The harness in the real sandbox: what each candidate's run reports, and what the code cannot fake."""

from __future__ import annotations

import pytest

from nativa.agent.checks import Check
from nativa.agent.harness import build_program, read_report, suite_from_checks, suite_from_tests
from nativa.sandbox import Sandbox

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return Sandbox()


def run(sandbox: Sandbox, code: str, user: str = "", generated: str = "", checks: list[Check] | None = None):
    suite = suite_from_tests(user, "user") + suite_from_checks(checks or []) + suite_from_tests(generated, "generated")
    program = build_program(code, suite, test_timeout_s=1.0)
    result = sandbox.run(program.source, files=program.files, timeout_s=10)
    return result, read_report(result.files_out, program.nonce)


def test_each_test_reports_its_verdict_and_value(sandbox: Sandbox) -> None:
    code = "def add(a, b):\n    return a * b\n"
    result, report = run(sandbox, code, user="assert add(2, 3) == 5\nassert add(2, 2) == 4\n",
                         checks=[Check("add(3, 3)", "9")])
    assert not result.ok and result.error_type == "AssertionError"
    assert result.error_message.startswith("1 of 3 checks failed: assert add(2, 3) == 5: left is 6, right is 5")
    assert report is not None
    assert [(t.kind, t.ok, t.value) for t in report.tests] == [("user", False, "6"), ("user", True, "4"),
                                                              ("example", True, "9")]


def test_exit_in_the_code_does_not_skip_the_checks(sandbox: Sandbox) -> None:
    result, report = run(sandbox, "def f():\n    return 1\nimport sys\nsys.exit(0)\n", user="assert f() == 2\n")
    assert not result.ok and report is not None and report.exited == "0"
    assert report.tests[0].ok is False


def test_ending_the_process_early_leaves_no_report(sandbox: Sandbox) -> None:
    result, report = run(sandbox, "import os\nos._exit(0)\n", user="assert False\n")
    assert report is None  # the agent then treats the candidate as never checked, not as passed


def test_a_forged_report_is_not_accepted(sandbox: Sandbox) -> None:
    forge = ("import json, os\nopen('__nativa_report.json', 'w').write(json.dumps({'nonce': 'x', 'tests': []}))\n"
             "os._exit(0)\n")
    _, report = run(sandbox, forge, user="assert False\n")
    assert report is None


def test_output_is_kept_for_checks_about_what_a_program_printed(sandbox: Sandbox) -> None:
    code = "for p in [2, 3, 5]:\n    print(p)\n"
    result, report = run(sandbox, code, generated="lines = output.split()\nassert len(lines) == 3\n"
                                                  "assert lines == ['2', '3', '7']\n")
    assert result.ok and result.stdout == "2\n3\n5\n"  # generated checks never fail the run
    assert report is not None and [t.ok for t in report.tests] == [True, False]


def test_a_test_that_hangs_is_cut_off_and_the_others_still_run(sandbox: Sandbox) -> None:
    code = "def f(n):\n    while n:\n        pass\n    return 0\n"
    result, report = run(sandbox, code, user="assert f(1) == 0\nassert f(0) == 0\n")
    assert report is not None
    assert report.tests[0].ok is False and "longer than" in (report.tests[0].error or "")
    assert report.tests[1].ok is True


def test_user_code_traceback_names_its_own_file(sandbox: Sandbox) -> None:
    result, report = run(sandbox, "def f():\n    return 1 / 0\n\nf()\n", user="assert f() == 1\n")
    assert report is None and result.error_type == "ZeroDivisionError"
    assert 'File "solution.py", line 2, in f' in (result.traceback or "")
