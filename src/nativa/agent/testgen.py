"""Tests the model writes for a task that came with none, so "solved" never means only "ran".

A task stated as one sentence ("print the first 10 primes") has no examples to check against. The model
is asked, once, for asserts about the function the first candidate defines, or about `output` (what a
program printed). They are parsed, never executed on the host, and filtered: a test must exercise the
solution, and may not define the solution's own names (that would test itself). They can still be wrong,
which is why verify.py ranks on them instead of vetoing with them.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Literal

from nativa.agent.extract import extract_code

MAX_TESTS = 6
_TASK_SAYS_FUNCTION = re.compile(r"\b(function|def|method|returns?|lambda)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Interface:
    """What a candidate exposes to tests: a function (name and signature line) or a whole program."""

    kind: Literal["function", "program"]
    name: str | None = None
    signature: str | None = None


def interface_of(task: str, code: str, entry_point: str | None) -> Interface:
    """The function the tests should call (the entry point, or the one a function task's code is built
    around), else the program as a whole."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return Interface("program")
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    if entry_point and entry_point in functions:
        return Interface("function", entry_point, _signature(functions[entry_point]))
    if not functions or not _TASK_SAYS_FUNCTION.search(task):
        return Interface("program")
    root = root_function(tree)
    return Interface("function", root, _signature(functions[root])) if root else Interface("program")


def root_function(tree: ast.Module) -> str | None:
    """The function the code is built around: called at top level, else called by no other function
    (the last such one); `main` and test functions aside."""
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)
                 and n.name != "main" and not n.name.startswith(("test", "_"))]
    if not functions:
        return None
    names = {f.name for f in functions}
    top_calls = [n.func.id for stmt in tree.body if not isinstance(stmt, ast.FunctionDef | ast.ClassDef)
                 for n in ast.walk(stmt) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    for name in top_calls:
        if name in names:
            return name
    called = {n.func.id for f in functions for n in ast.walk(f)
              if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id != f.name}
    roots = [f.name for f in functions if f.name not in called]
    return roots[-1] if roots else functions[-1].name


def _signature(node: ast.FunctionDef) -> str:
    args = ast.unparse(node.args)
    returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
    return f"def {node.name}({args}){returns}:"


def parse_tests(reply: str, interface: Interface, defined: set[str]) -> str | None:
    """The usable asserts (and the setup they need) from the model's reply, or None when there are none."""
    code = extract_code(reply) or ""
    tree = _parse_lenient(code)
    if tree is None:
        return None
    keep: list[ast.stmt] = []
    target = interface.name if interface.kind == "function" else "output"
    derived: set[str] = {target or "output"}  # names whose value comes from the solution
    n_asserts = 0
    seen: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            keep.append(node)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            if node.name not in defined and node.name != interface.name:
                keep.append(node)
        elif isinstance(node, ast.Assign | ast.AnnAssign) and not _calls_print(node):
            targets = {t.id for t in ast.walk(node) if isinstance(t, ast.Name) and isinstance(t.ctx, ast.Store)}
            if targets & (defined | {interface.name or "", "output"}):
                continue  # a test may not overwrite what it tests (the solution's names, `output`)
            keep.append(node)
            if _names(node.value) & derived if node.value is not None else False:
                derived |= targets
        elif isinstance(node, ast.Assert) and n_asserts < MAX_TESTS:
            text = ast.unparse(node)
            # An assert must look at the solution, directly or through values computed from it:
            # `assert True` or `assert is_prime(7)` (a helper of the test) tests nothing.
            if text in seen or not _names(node.test) & derived:
                continue
            seen.add(text)
            keep.append(node)
            n_asserts += 1
    if not n_asserts:
        return None
    return "\n".join(ast.unparse(n) for n in keep) + "\n"


def _parse_lenient(code: str) -> ast.Module | None:
    """The reply as Python; if it does not parse as a whole, the lines that parse one by one."""
    try:
        return ast.parse(code)
    except SyntaxError:
        pass
    body: list[ast.stmt] = []
    for line in code.splitlines():
        try:
            body += ast.parse(line.strip()).body
        except SyntaxError:
            continue
    return ast.Module(body=body, type_ignores=[]) if body else None


def _calls_print(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in {"print", "input"}
               for n in ast.walk(node))


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
