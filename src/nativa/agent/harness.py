"""Build the program the sandbox runs for one candidate: the candidate's code, then every piece of evidence.

The candidate goes into the sandbox as its own file, `solution.py`, and the harness (`main.py`) executes it,
so its tracebacks name its own lines, an `exit()` in it cannot skip the checks (SystemExit is caught), and
what it prints is both shown and kept as `output` for checks about a program's output. Then each test runs
on its own, under its own time limit, and the harness writes a report (one JSON file, returned through the
sandbox's output files) with every test's verdict and the value it computed, which the agent uses to rank
candidates by agreement. The report carries a nonce from the host, so a program that ended early (an
`os._exit`) is told apart from one whose checks ran.

The exit status still carries the verdict on the evidence the caller must trust (their tests, the task's
examples): the harness raises AssertionError when any of those failed. Generated tests never fail the run,
because they can be wrong; they are only ranked on. Code written to defeat its own checks (it shares their
process) is out of reach of any in-process harness; the review policy flags the means (`os._exit`, frame
tricks), and the sandbox keeps its effects contained.
"""

from __future__ import annotations

import ast
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from nativa.agent.checks import Check

SOLUTION_FILE = "solution.py"
TESTS_FILE = "tests.py"
REPORT_FILE = "__nativa_report.json"
TestKind = Literal["user", "example", "generated"]
REQUIRED: tuple[TestKind, ...] = ("user", "example")
_OUTPUT_KEEP = 200_000
_VALUE_CHARS = 300


@dataclass(frozen=True, slots=True)
class TestCase:
    """One unit of evidence: an assert, a `test_*` function, or an example check."""

    kind: TestKind
    label: str  # what the model is shown when it fails: the assert's source, or the function's name
    source: str  # Python statements that raise on failure; the value they assert on is recorded


@dataclass(frozen=True, slots=True)
class Suite:
    """Every test one candidate runs against: setup statements then tests, per kind, in file order."""

    steps: tuple[tuple[str, TestCase | str], ...] = ()

    @property
    def tests(self) -> list[TestCase]:
        """The tests alone, without the setup statements between them."""
        return [s for _, s in self.steps if isinstance(s, TestCase)]

    def count(self, kind: TestKind) -> int:
        """How many tests of `kind` the suite holds: what a verdict's evidence is counted in."""
        return sum(1 for t in self.tests if t.kind == kind)

    def __add__(self, other: Suite) -> Suite:
        return Suite(self.steps + other.steps)


@dataclass(frozen=True, slots=True)
class Program:
    """What one sandbox run gets: the harness as the main file and the candidate and tests as files."""

    source: str
    files: dict[str, str]
    nonce: str
    suite: Suite = field(default_factory=Suite)


def suite_from_tests(source: str | None, kind: TestKind) -> Suite:
    """Split test code into setup statements and tests: each top-level assert is a test, each `test_*`
    function is one (called after the setup, in order), everything else is setup run where it stands."""
    if not source or not source.strip():
        return Suite()
    try:
        tree = ast.parse(source)
    except SyntaxError:
        # Broken tests fail honestly: as one test whose source is the whole file.
        return Suite((("test", TestCase(kind, "the tests", source)),))
    steps: list[tuple[str, TestCase | str]] = []
    functions: list[str] = []
    for node in tree.body:
        segment = ast.get_source_segment(source, node) or ast.unparse(node)
        if isinstance(node, ast.Assert):
            steps.append(("test", TestCase(kind, _one_line(segment), segment)))
        else:
            steps.append(("setup", segment))
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
                functions.append(node.name)
    steps += [("test", TestCase(kind, f"{name}()", f"{name}()")) for name in functions]
    return Suite(tuple(steps))


def suite_from_checks(checks: Iterable[Check]) -> Suite:
    """The task's derived examples as `example` tests, each labelled with the expression and its expected
    value so a failure reads like an assert."""
    return Suite(tuple(("test", TestCase("example", f"{c.expr} == {c.expected}", _check_source(c)))
                       for c in checks))


def _check_source(check: Check) -> str:
    return (f"__nativa_expect({check.expr!r}, ({check.expr}), ({check.expected}))")


def _one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def build_program(code: str, suite: Suite, *, alias: tuple[str, str] | None = None,
                  test_timeout_s: float = 2.0) -> Program:
    """The harness for `code` against `suite`. `alias` = (name the tests call, name the code defines), for a
    candidate that named the function differently from the one the tests were written for."""
    nonce = secrets.token_hex(8)
    lines = [_PRELUDE.format(solution=SOLUTION_FILE, keep=_OUTPUT_KEEP, timeout=float(test_timeout_s),
                             value_chars=_VALUE_CHARS)]
    if alias is not None:
        wanted, defined = alias
        lines.append(f"if {wanted!r} not in globals() and {defined!r} in globals():\n"
                     f"    globals()[{wanted!r}] = globals()[{defined!r}]")
    for i, (what, step) in enumerate(suite.steps):
        if isinstance(step, str):
            lines.append(f"__nativa_setup({step!r})")
        else:
            lines.append(f"__nativa_test({i}, {step.kind!r}, {step.label!r}, {step.source!r})")
    lines.append(_EPILOGUE.format(report=REPORT_FILE, nonce=nonce, required=list(REQUIRED)))
    return Program(source="\n".join(lines) + "\n", files={SOLUTION_FILE: code}, nonce=nonce, suite=suite)


# The harness runs in the sandbox; its names start with __nativa_ so they stay out of the candidate's way.
_PRELUDE = '''import io as __nativa_io, json as __nativa_json, signal as __nativa_signal, sys as __nativa_sys


class __NativaTee:
    """Writes go to the real stdout (what the user sees) and are kept, capped, as `output`."""

    def __init__(self, real):
        self.real, self.kept, self.size = real, [], 0

    def write(self, text):
        if self.size < {keep}:
            self.kept.append(text[: {keep} - self.size])
            self.size += len(text)
        return self.real.write(text)

    def flush(self):
        self.real.flush()

    def __getattr__(self, name):
        return getattr(self.real, name)


class __NativaTimeout(BaseException):
    pass


def __nativa_alarm(signum, frame):
    raise __NativaTimeout()


__nativa_signal.signal(__nativa_signal.SIGALRM, __nativa_alarm)
__nativa_results = []
__nativa_setup_errors = []
__nativa_exited = None
__nativa_tee = __NativaTee(__nativa_sys.stdout)
__nativa_sys.stdout = __nativa_tee
try:
    with open({solution!r}, encoding="utf-8") as __nativa_fh:
        __nativa_code = compile(__nativa_fh.read(), {solution!r}, "exec")
    exec(__nativa_code, globals())
except SystemExit as __nativa_exc:
    __nativa_exited = repr(__nativa_exc.code)
finally:
    __nativa_sys.stdout = __nativa_tee.real
    __nativa_sys.stdout.flush()
output = "".join(__nativa_tee.kept).rstrip("\\n")  # what it printed, as tests expect it: no final newline


def __nativa_value(value):
    try:
        text = repr(value)
    except BaseException as exc:
        text = "<repr failed: " + type(exc).__name__ + ">"
    return text[: {value_chars}]


def __nativa_explain(src, left, right):
    return "assert " + src + ": left is " + __nativa_value(left) + ", right is " + __nativa_value(right)


def __nativa_expect(src, actual, expected):
    globals()["__nativa_l"] = actual
    if actual != expected and not (isinstance(actual, float) and isinstance(expected, (int, float))
                                   and abs(actual - expected) <= 1e-6 * max(1.0, abs(expected))):
        raise AssertionError(src + " returned " + __nativa_value(actual) + ", expected " + __nativa_value(expected))


def __nativa_rewrite(src):
    """`assert a == b` reports both sides when it fails, and the value of `a` (or of the whole asserted
    expression) is kept as `__nativa_l` for agreement between candidates. Parsing only: nothing runs twice."""
    import ast
    tree = ast.parse(src)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assert):
            continue
        test = node.test
        if isinstance(test, ast.Compare) and len(test.ops) == 1:
            seg = ast.get_source_segment(src, test) or ast.unparse(test)
            test.left = ast.NamedExpr(target=ast.Name("__nativa_l", ast.Store()), value=test.left)
            test.comparators = [ast.NamedExpr(target=ast.Name("__nativa_r", ast.Store()), value=test.comparators[0])]
            if node.msg is None:
                node.msg = ast.Call(func=ast.Name("__nativa_explain", ast.Load()),
                                    args=[ast.Constant(seg), ast.Name("__nativa_l", ast.Load()),
                                          ast.Name("__nativa_r", ast.Load())], keywords=[])
        else:
            node.test = ast.NamedExpr(target=ast.Name("__nativa_l", ast.Store()), value=test)
    return compile(ast.fix_missing_locations(tree), "{tests}", "exec")


def __nativa_timed(code, seconds):
    """Run `code` (compiled) in the module's globals under its own alarm; None, or why it failed."""
    __nativa_signal.setitimer(__nativa_signal.ITIMER_REAL, seconds)
    try:
        exec(code, globals())
        return None
    except __NativaTimeout:
        return "took longer than " + format(seconds, "g") + " s"
    except AssertionError as exc:
        return str(exc) or "AssertionError"
    except SystemExit as exc:
        return "called exit(" + repr(exc.code) + ")"
    except Exception as exc:
        return "raised " + type(exc).__name__ + ": " + str(exc)[:300]
    finally:
        __nativa_signal.setitimer(__nativa_signal.ITIMER_REAL, 0)


def __nativa_setup(src):
    try:
        code = __nativa_rewrite(src)
    except SyntaxError as exc:
        __nativa_setup_errors.append("SyntaxError: " + str(exc))
        return
    error = __nativa_timed(code, {timeout})
    if error is not None:
        __nativa_setup_errors.append(error)


def __nativa_test(index, kind, label, src):
    globals().pop("__nativa_l", None)
    entry = {{"i": index, "kind": kind, "label": label, "ok": False}}
    try:
        code = __nativa_rewrite(src)
    except SyntaxError as exc:
        entry["error"] = label + ": SyntaxError: " + str(exc)
        __nativa_results.append(entry)
        return
    error = __nativa_timed(code, {timeout})
    if "__nativa_l" in globals():
        entry["value"] = __nativa_value(globals().pop("__nativa_l"))
    elif error is not None and error.startswith(("raised ", "took longer", "called exit")):
        entry["value"] = error.split(":")[0]
    if error is None:
        entry["ok"] = True
    elif error.startswith(label) or (kind == "example" and " returned " in error) or (
            label.startswith("assert") and error.startswith("assert")):
        entry["error"] = error
    else:
        entry["error"] = label + ": " + error
    __nativa_results.append(entry)
'''.replace("{tests}", TESTS_FILE)

_EPILOGUE = '''
with open({report!r}, "w", encoding="utf-8") as __nativa_fh:
    __nativa_json.dump({{"nonce": {nonce!r}, "exited": __nativa_exited, "setup_errors": __nativa_setup_errors,
                        "tests": __nativa_results, "output_chars": len(output)}}, __nativa_fh)
__nativa_failed = [t for t in __nativa_results if t["kind"] in {required!r} and not t["ok"]]
if __nativa_failed:
    __nativa_total = sum(1 for t in __nativa_results if t["kind"] in {required!r})
    raise AssertionError(str(len(__nativa_failed)) + " of " + str(__nativa_total) + " checks failed: "
                         + "; ".join(t.get("error", t["label"]) for t in __nativa_failed[:3]))
'''


@dataclass(slots=True)
class TestOutcome:
    """One test's result as the harness reported it: passed or not, the value it computed, the error."""

    kind: TestKind
    label: str
    ok: bool
    value: str | None = None
    error: str | None = None


@dataclass(slots=True)
class Report:
    """What the harness found, read back from its report file; None fields mean it never got that far."""

    tests: list[TestOutcome]
    exited: str | None = None
    setup_errors: list[str] = field(default_factory=list)

    def failed(self, kinds: Iterable[TestKind]) -> list[TestOutcome]:
        """The tests of these kinds that did not pass."""
        wanted = set(kinds)
        return [t for t in self.tests if t.kind in wanted and not t.ok]


def read_report(files_out: dict[str, bytes], nonce: str) -> Report | None:
    """The report of this run, or None when the program ended before writing it (or wrote a forged one
    without this run's nonce: the nonce lives only in this run's harness)."""
    raw = files_out.get(REPORT_FILE)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or data.get("nonce") != nonce or not isinstance(data.get("tests"), list):
        return None
    tests = []
    for t in data["tests"]:
        if not isinstance(t, dict) or t.get("kind") not in ("user", "example", "generated"):
            continue
        tests.append(TestOutcome(kind=t["kind"], label=str(t.get("label", "")), ok=t.get("ok") is True,
                                 value=_str_or_none(t.get("value")), error=_str_or_none(t.get("error"))))
    errors = [str(e) for e in data.get("setup_errors") or [] if isinstance(e, str)]
    return Report(tests=tests, exited=_str_or_none(data.get("exited")), setup_errors=errors)


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
