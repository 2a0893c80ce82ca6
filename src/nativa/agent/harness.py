"""Build the program the sandbox runs for one attempt: the candidate code, then the checks or tests.

User tests are plain asserts or pytest-style `test_*` functions. Bare `assert a == b` says nothing when it
fails, so asserts are rewritten (on the host, by parsing only) to report both sides; `test_*` functions are
called one by one and reported by name. The model then sees "expected 3, got 4", not just AssertionError.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from nativa.agent.checks import Check, checks_to_code

_RUN_TESTS = """
__nativa_test_failures = []
for __nativa_name, __nativa_fn in list(globals().items()):
    if __nativa_name.startswith("test_") and callable(__nativa_fn):
        try:
            __nativa_fn()
        except Exception as __nativa_exc:
            __nativa_test_failures.append(f"{__nativa_name}: {type(__nativa_exc).__name__}: {__nativa_exc}")
if __nativa_test_failures:
    raise AssertionError(f"{len(__nativa_test_failures)} test(s) failed: " + "; ".join(__nativa_test_failures[:3]))
"""

_EXPLAIN = """
def __nativa_explain(src, left, right):
    return f"assert {src}: left is {left!r}, right is {right!r}"
"""


@dataclass(frozen=True, slots=True)
class Program:
    source: str
    code_lines: int  # the candidate code occupies lines 1..code_lines; the rest is ours


def build_program(code: str, *, checks: list[Check] | None = None, tests: str | None = None) -> Program:
    parts = [code.rstrip("\n")]
    if tests:
        parts.append("# --- tests ---\n" + rewrite_asserts(tests) + _RUN_TESTS)
    if checks:
        parts.append("# --- checks derived from the task ---" + checks_to_code(checks))
    return Program(source="\n\n".join(parts) + "\n", code_lines=len(code.rstrip("\n").splitlines()))


class _AssertRewriter(ast.NodeTransformer):
    def __init__(self, source: str) -> None:
        self.source = source
        self.counter = 0

    def visit_Assert(self, node: ast.Assert) -> ast.AST:
        test = node.test
        if node.msg is not None or not (isinstance(test, ast.Compare) and len(test.ops) == 1):
            return node
        self.counter += 1
        left_name, right_name = f"__nativa_l{self.counter}", f"__nativa_r{self.counter}"
        src = ast.get_source_segment(self.source, test) or ast.unparse(test)
        new_test = ast.Compare(
            left=ast.NamedExpr(target=ast.Name(left_name, ast.Store()), value=test.left),
            ops=test.ops,
            comparators=[ast.NamedExpr(target=ast.Name(right_name, ast.Store()), value=test.comparators[0])],
        )
        msg = ast.Call(
            func=ast.Name("__nativa_explain", ast.Load()),
            args=[ast.Constant(src), ast.Name(left_name, ast.Load()), ast.Name(right_name, ast.Load())],
            keywords=[],
        )
        return ast.copy_location(ast.Assert(test=new_test, msg=msg), node)


def rewrite_asserts(tests: str) -> str:
    """Make `assert a == b` report both sides; leaves tests that do not parse untouched (they fail honestly)."""
    try:
        tree = ast.parse(tests)
    except SyntaxError:
        return tests
    rewriter = _AssertRewriter(tests)
    tree = ast.fix_missing_locations(rewriter.visit(tree))
    if not rewriter.counter:
        return tests
    return _EXPLAIN + "\n" + ast.unparse(tree)


_FAILED = re.compile(r"^(\d+) (?:of \d+ checks|test\(s\)) failed")


def failed_count(error_type: str | None, error_message: str | None) -> int | None:
    """How many checks or tests a failed run missed, read from the harness's own message; None when the code
    failed before the checks could report (an exception of its own, a timeout)."""
    if error_type != "AssertionError" or not error_message:
        return None
    m = _FAILED.match(error_message)
    return int(m.group(1)) if m else None
