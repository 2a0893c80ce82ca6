"""What the agent knows about a task before it asks the model: is it a function to complete, which checks
can be derived from it, and which parts of a given stub (imports, helper functions) the answer must keep.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field

from nativa.agent.checks import Check, derive_checks


@dataclass(slots=True)
class TaskContext:
    """The task as the agent works with it: its text, the function it asks for, the checks derived from
    it, and the caller's tests."""

    text: str
    entry_point: str | None = None
    stub: str | None = None  # the task itself when it is Python code to complete (a signature + docstring)
    checks: list[Check] = field(default_factory=list)
    tests: str | None = None
    called: list[str] = field(default_factory=list)  # what the caller's tests call that they do not define
    context: str | None = None  # what came before (a session's history): shown to the model, never parsed

    @classmethod
    def from_task(cls, text: str, tests: str | None = None, entry_point: str | None = None, *,
                  context: str | None = None) -> TaskContext:
        """Read a task: a function stub names the entry point, else the tests' first called name does; checks
        are derived from the text only when the caller gave no tests."""
        stub = text if _is_function_stub(text) else None
        if stub is not None and entry_point is None:
            entry_point = _last_function(stub)
        called = called_names(tests) if tests else []
        if entry_point is None and called:
            entry_point = called[0]  # the tests name the function the code must define
        # Checks derived from the task are the feedback when the caller gave no tests.
        checks = [] if tests else derive_checks(text, entry_point)
        return cls(text=text, entry_point=entry_point, stub=stub, checks=checks, tests=tests, called=called,
                   context=context)

    def complete(self, code: str) -> str:
        """Add what the stub provides and the answer left out: imports, helper functions, the signature."""
        if self.stub is None or self.entry_point is None:
            return code
        if not _defines(code, self.entry_point):
            return self.stub.rstrip("\n") + "\n" + code  # the model wrote only the body
        try:
            stub_tree = ast.parse(self.stub)
        except SyntaxError:
            return code
        defined = _top_level_names(code)
        missing: list[str] = []
        for node in stub_tree.body:
            segment = ast.get_source_segment(self.stub, node) or ""
            if isinstance(node, ast.Import | ast.ImportFrom):
                if segment and segment not in code:
                    missing.append(segment)
            elif (isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name != self.entry_point
                  and node.name not in defined):
                missing.append(segment)
        return "\n\n".join(missing + [code]) if missing else code


def _is_function_stub(text: str) -> bool:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return False
    return any(isinstance(n, ast.FunctionDef) for n in tree.body)


def _last_function(stub: str) -> str | None:
    names = [n.name for n in ast.parse(stub).body if isinstance(n, ast.FunctionDef)]
    return names[-1] if names else None


def _defines(code: str, name: str) -> bool:
    return name in _top_level_names(code) or f"def {name}(" in code


def _top_level_names(code: str) -> set[str]:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}


def called_names(tests: str) -> list[str]:
    """Functions (and classes) the tests call but do not define or import: the names the code must provide,
    in the order the tests first use them."""
    try:
        tree = ast.parse(tests)
    except SyntaxError:
        return []
    defined = _top_level_names(tests)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            defined |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            defined.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.Lambda):
            args = node.args
            defined |= {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    calls.sort(key=lambda n: (n.lineno, n.col_offset))
    out: list[str] = []
    for call in calls:
        name = call.func.id  # type: ignore[attr-defined]
        if name not in defined and not hasattr(builtins, name) and name not in out:
            out.append(name)
    return out
