"""Visible checks: tests derived from the task itself, so repair has something to aim at.

Running code "without error" says little: most wrong answers of a small model run cleanly. The examples in
a task's docstring (`>>> f(2)` / `4`, or `f(2) == 4`, `f(2) ➞ 4`) are the checks a person would try first.
Hidden benchmark tests are never used here.
"""

from __future__ import annotations

import ast
import builtins
import doctest
import inspect
import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Check:
    """`expr` evaluated after the code must equal the literal `expected`."""

    expr: str
    expected: str


# `f(x) == y`, `f(x) ==> y`, `f(x) ➞ y`, `f(x) # => y`, `>>> f(x) == y`, `assert f(x) => y`
_ARROW = re.compile(r"^\s*(?:>>>\s*)?(?:assert\s+)?(?P<expr>[A-Za-z_][A-Za-z0-9_]*\(.*\))\s*(?:#\s*)?"
                    r"(?:==>|==|➞|=>|->|returns?|should return)\s*(?P<expected>.+?)\s*$")
# "For lst = [1, 2] the output should be 3"
_FOR_OUTPUT = re.compile(r"^\s*For\s+(?P<args>.+?)\s*,?\s+the output should be\s+(?P<expected>.+?)\s*$", re.IGNORECASE)
_INPUT = re.compile(r"^\s*Input\s*:\s*(?P<args>.*?)\s*$", re.IGNORECASE)
_OUTPUT = re.compile(r"^\s*Output\s*:\s*(?P<expected>.+?)\s*$", re.IGNORECASE)
_NAMED = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*:\s*(?=\S)")


def derive_checks(task: str, entry_point: str | None = None) -> list[Check]:
    """Checks from the example forms docstrings use: `>>>` doctests, `f(x) == y`-style lines, "For x = 1
    the output should be 2" and "Input: ... / Output: ..." blocks, calling `entry_point` (or any call)."""
    checks: list[Check] = []
    tree = _parse(task)
    params = _params(tree, entry_point)
    lines = task.splitlines()
    doctests = _doctest_checks(task, tree)
    i = 0
    while i < len(lines):
        line = lines[i].strip().lstrip("\"'").strip()  # `""">>> f(1)` opens a docstring with an example
        arrow = _ARROW.match(line)
        if line.startswith(">>>") and not arrow:
            pass  # a doctest: read above by the standard library's parser
        elif arrow and (value := _expected_value(arrow.group("expected"))) is not None:
            checks.append(Check(arrow.group("expr").strip(), value))
        elif (m := _FOR_OUTPUT.match(line)) and entry_point:
            _add_call(checks, entry_point, params, m.group("args"), m.group("expected"))
        elif (m := _INPUT.match(line)) and entry_point:
            # The arguments run from "Input:" (same line or the next ones) to the "Output:" line.
            args, j = [m.group("args")] if m.group("args") else [], i + 1
            while j < len(lines) and not _OUTPUT.match(lines[j]) and j - i <= 8:
                if lines[j].strip():
                    args.append(_NAMED.sub(r"\g<name>=", lines[j].strip()))
                j += 1
            if j < len(lines) and (out := _OUTPUT.match(lines[j])):
                _add_call(checks, entry_point, params, ", ".join(args), out.group("expected"))
                i = j
        i += 1
    checks = _in_text_order(doctests + checks, lines)
    # Canonical form: `24 # sum of 21 + 3` must not carry its comment into the generated check.
    known = _defined_names(tree) | {entry_point} if entry_point else None
    usable = [c for c in checks if _usable(c, entry_point, known)]
    return _dedupe([Check(_canonical(c.expr), _canonical(c.expected)) for c in usable])


def _in_text_order(checks: list[Check], lines: list[str]) -> list[Check]:
    """Checks in the order their examples appear in the task (the doctest parser reads docstrings apart)."""
    def first_line(check: Check) -> int:
        head = check.expr.splitlines()[0]
        return next((i for i, line in enumerate(lines) if head in line), len(lines))

    return sorted(checks, key=first_line)


def _doctest_checks(task: str, tree: ast.Module | None) -> list[Check]:
    """`>>> f(2)` / `4` examples, parsed by the standard library's doctest parser, per docstring when the task
    is Python (so indentation and continuation lines are the parser's business, not ours). The expected output
    runs to a blank line or the next prompt; the shortest prefix of its lines that is a literal is taken, so
    a prose line or the closing quotes right after an example do not spoil it."""
    texts = _docstring_sources(task, tree) if tree is not None else [task]
    out: list[Check] = []
    parser = doctest.DocTestParser()
    for text in texts:
        try:
            examples = parser.get_examples(text)
        except ValueError:  # inconsistent indentation: the line-based forms below still apply
            continue
        for ex in examples:
            expr = ex.source.strip()
            if _ARROW.match(">>> " + expr):
                continue  # `>>> f(x) == y` is an arrow-form example, read line by line
            pieces: list[str] = []
            for want in ex.want.splitlines():
                pieces.append(want.strip())
                if _is_literal(" ".join(pieces)):
                    out.append(Check(expr, " ".join(pieces)))
                    break
    return out


def _docstring_sources(task: str, tree: ast.Module) -> list[str]:
    """Each docstring as written in the source, escapes intact (`"a\\nb"` stays one line: the examples are
    code, and their expected values literals), with its indentation removed."""
    out = []
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not (isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module) and body):
            continue
        first = body[0]
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
            raw = ast.get_source_segment(task, first.value) or ""
            quote = next((q for q in ('"""', "'''", '"', "'") if raw.lstrip("rRuU").startswith(q)), None)
            if quote:
                inner = raw.lstrip("rRuU")[len(quote):]
                out.append(inspect.cleandoc(inner.removesuffix(quote)))
    return out


def _canonical(source: str) -> str:
    return ast.unparse(ast.parse(source, mode="eval"))


def _parse(task: str) -> ast.Module | None:
    """The task as Python when it is Python (a stub with its docstring), else None (plain prose)."""
    try:
        return ast.parse(task)
    except SyntaxError:
        return None


def _defined_names(tree: ast.Module | None) -> set[str]:
    if tree is None:
        return set()
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}


def _add_call(checks: list[Check], entry_point: str, params: list[str] | None, args: str, expected: str) -> None:
    """`lst = [1, 2]` becomes `f(lst=[1, 2])`; a lone argument under another name is passed by position."""
    try:
        call = ast.parse(f"_f({args})", mode="eval").body
    except SyntaxError:
        return
    if not isinstance(call, ast.Call):
        return
    if params is not None:
        names = [k.arg for k in call.keywords]
        if any(n not in params for n in names):
            if len(call.keywords) == 1 and not call.args and len(params) == 1:
                call = ast.Call(func=call.func, args=[call.keywords[0].value], keywords=[])
            else:
                return
    value = _expected_value(expected)
    if value is not None:
        call.func = ast.Name(entry_point, ast.Load())
        checks.append(Check(ast.unparse(call), value))


def _params(tree: ast.Module | None, entry_point: str | None) -> list[str] | None:
    """The entry point's parameter names when the task is Python that defines it; None when unknown."""
    if entry_point is None or tree is None:
        return None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == entry_point:
            return [a.arg for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs]
    return None


def _normalise(expected: str) -> str:
    """`true` -> `True`; `19 - 5 - 6 = 8` -> `8` (worked examples state the result last)."""
    text = expected.strip().rstrip(".,;")
    if "=" in text and not _is_literal(text) and not text.lstrip().startswith(("'", '"')):
        text = text.rsplit("=", 1)[1].strip()
    return {"true": "True", "false": "False", "none": "None"}.get(text.lower(), text)


def _expected_value(text: str) -> str | None:
    """The expected value an example states, normalised, or None when it states no literal."""
    return _literal_prefix(_normalise(text))


def _literal_prefix(text: str) -> str | None:
    """The longest prefix of `text` (cut at a space) that is a Python literal: `'No' (the name should ...)`
    gives `'No'`. A comment after an example is common; a value split by a space is not."""
    if _is_literal(text):
        return text
    cuts = [k for k, ch in enumerate(text) if ch.isspace()]
    for k in reversed(cuts):
        head = text[:k].rstrip(".,;")
        if head and _is_literal(head):
            return head
    return None


def _is_literal(text: str) -> bool:
    try:
        ast.literal_eval(text)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        return False
    return True


def _dedupe(checks: list[Check]) -> list[Check]:
    seen: set[tuple[str, str]] = set()
    out = []
    for c in checks:
        if (c.expr, c.expected) not in seen:
            seen.add((c.expr, c.expected))
            out.append(c)
    return out


def _usable(check: Check, entry_point: str | None, known: set[str] | None = None) -> bool:
    """Only checks we can evaluate exactly: a parsable call of the entry point and a literal expected value,
    naming nothing but the task's own functions and builtins (`is_happy(abc)` is prose, not Python)."""
    try:
        expr = ast.parse(check.expr, mode="eval").body
        ast.literal_eval(check.expected)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        return False
    if entry_point is None:
        return isinstance(expr, ast.Call)
    names = {n.id for n in ast.walk(expr) if isinstance(n, ast.Name)}
    if known is not None and any(n not in known and not hasattr(builtins, n) for n in names):
        return False
    return entry_point in names
