"""The traceback handed back (and fed to the model) is the user's: their file name, their lines, no runner frames."""

from __future__ import annotations

import pytest

from nativa.sandbox import Sandbox, SandboxSession

pytestmark = pytest.mark.integration

RUNNER_MARKERS = ("_runner", "runner.py", "/.nativa", "nativa/sandbox", "_execute", "_serve")


def _assert_clean(tb: str) -> None:
    for marker in RUNNER_MARKERS:
        assert marker not in tb, f"runner frame {marker!r} leaked into the traceback:\n{tb}"


def test_traceback_points_at_the_users_line(sandbox: Sandbox) -> None:
    code = "def ratio(a, b):\n    return a / b\n\nvalues = [1, 2]\nprint(ratio(values[0], 0))\n"
    r = sandbox.run(code)
    assert not r.ok and r.exit_code == 1 and r.killed_by is None
    assert r.error_type == "ZeroDivisionError" and r.error_message == "division by zero"
    tb = r.traceback or ""
    _assert_clean(tb)
    assert tb.startswith("Traceback (most recent call last):\n")
    assert 'File "main.py", line 5, in <module>\n    print(ratio(values[0], 0))' in tb
    assert 'File "main.py", line 2, in ratio\n    return a / b' in tb
    assert tb.rstrip().endswith("ZeroDivisionError: division by zero")
    assert tb.count('File "') == 2  # exactly the user's two frames
    assert r.stderr == tb  # like the interpreter, the traceback also goes to stderr


def test_syntax_error_has_no_frames_and_a_caret(sandbox: Sandbox) -> None:
    r = sandbox.run("x = 1\nprint((x)\n", filename="solution.py")
    assert r.error_type == "SyntaxError" and not r.ok
    tb = r.traceback or ""
    _assert_clean(tb)
    assert "Traceback (most recent call last)" not in tb
    assert 'File "solution.py", line 2' in tb and "^" in tb
    assert "'(' was never closed" in (r.error_message or "")


def test_chained_exceptions_are_clean_on_both_sides(sandbox: Sandbox) -> None:
    code = ("class ParseError(Exception):\n    pass\n\ndef parse(s):\n    try:\n        return int(s)\n"
            "    except ValueError as exc:\n        raise ParseError(f'bad number {s!r}') from exc\n\nparse('x1')\n")
    r = sandbox.run(code)
    tb = r.traceback or ""
    _assert_clean(tb)
    assert r.error_type == "ParseError"  # a class of the user's own script: no "__main__." prefix
    assert "The above exception was the direct cause of the following exception" in tb
    assert 'File "main.py", line 6, in parse' in tb and 'File "main.py", line 8, in parse' in tb
    assert "ValueError: invalid literal for int() with base 10: 'x1'" in tb


def test_library_exceptions_are_module_qualified(sandbox: Sandbox) -> None:
    r = sandbox.run("import json\njson.loads('{broken')\n")
    assert r.error_type == "json.decoder.JSONDecodeError"
    tb = r.traceback or ""
    _assert_clean(tb)
    assert 'File "main.py", line 2, in <module>' in tb  # the user's frame first, then the stdlib's


def test_session_traceback_names_the_cell_that_defined_the_function() -> None:
    with SandboxSession() as s:
        assert s.run("def half(n):\n    return n // 0\n").ok
        r = s.run("x = 4\nhalf(x)\n")
    tb = r.traceback or ""
    _assert_clean(tb)
    assert 'File "cell2.py", line 2, in <module>\n    half(x)' in tb
    assert 'File "cell1.py", line 2, in half\n    return n // 0' in tb


def test_exit_codes_and_system_exit(sandbox: Sandbox) -> None:
    r = sandbox.run("import sys\nsys.exit(3)\n")
    assert (r.ok, r.exit_code, r.error_type, r.traceback) == (False, 3, "SystemExit", None)
    r = sandbox.run("raise SystemExit('bad input')\n")
    assert (r.ok, r.exit_code) == (False, 1) and "bad input" in r.stderr
    r = sandbox.run("print('bye')\nexit()\n")  # the site builtin exists although site is not imported
    assert (r.ok, r.exit_code, r.stdout) == (True, 0, "bye\n")
