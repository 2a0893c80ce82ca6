"""What the agent knows about a task before it asks the model: is it a function to complete, which checks
can be derived from it, and which parts of a given stub (imports, helper functions) the answer must keep.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from nativa.agent.checks import Check, derive_checks


@dataclass(slots=True)
class TaskContext:
    text: str
    entry_point: str | None = None
    stub: str | None = None  # the task itself when it is Python code to complete (a signature + docstring)
    checks: list[Check] = field(default_factory=list)
    tests: str | None = None

    @classmethod
    def from_task(cls, text: str, tests: str | None = None, entry_point: str | None = None) -> TaskContext:
        stub = text if _is_function_stub(text) else None
        if stub is not None and entry_point is None:
            entry_point = _last_function(stub)
        # Checks derived from the task are the feedback when the caller gave no tests.
        checks = [] if tests else derive_checks(text, entry_point)
        return cls(text=text, entry_point=entry_point, stub=stub, checks=checks, tests=tests)

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
            elif isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name != self.entry_point:
                if node.name not in defined:
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
