"""Visible checks: tests derived from the task itself, so repair has something to aim at.

Running code "without error" says little: most wrong answers of a small model run cleanly. The examples in
a task's docstring (`>>> f(2)` / `4`, or `f(2) == 4`, `f(2) ➞ 4`) are the checks a person would try first.
Hidden benchmark tests are never used here.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Check:
    """`expr` evaluated after the code must equal the literal `expected`."""

    expr: str
    expected: str


_ARROW = re.compile(r"^\s*(?:>>>\s*)?(?P<expr>[A-Za-z_][A-Za-z0-9_]*\(.*\))\s*(?:==|➞|=>|->|returns?|should return)\s*(?P<expected>.+?)\s*$")


def derive_checks(task: str, entry_point: str | None = None) -> list[Check]:
    """Checks from `>>>` examples and `f(x) == y`-style lines that call `entry_point` (or any call)."""
    checks: list[Check] = []
    lines = task.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip().lstrip("\"'").strip()  # `""">>> f(1)` opens a docstring with an example
        if line.startswith(">>>"):
            expr = line[3:].strip()
            # Doctest output runs to a blank line or the next prompt; take the shortest prefix that is a
            # literal, so a following prose line or closing quotes does not spoil it.
            j = i + 1
            pieces: list[str] = []
            while j < len(lines) and lines[j].strip() and not lines[j].strip().startswith(">>>"):
                pieces.append(lines[j].strip())
                j += 1
                if _is_literal(" ".join(pieces)):
                    checks.append(Check(expr, " ".join(pieces)))
                    break
            i = j
            continue
        m = _ARROW.match(lines[i])
        if m:
            checks.append(Check(m.group("expr").strip(), _normalise(m.group("expected"))))
        i += 1
    return [c for c in _dedupe(checks) if _usable(c, entry_point)]


def _normalise(expected: str) -> str:
    """`true` -> `True`; `19 - 5 - 6 = 8` -> `8` (worked examples state the result last)."""
    text = expected.strip().rstrip(".,;")
    if "=" in text and not _is_literal(text):
        text = text.rsplit("=", 1)[1].strip()
    return {"true": "True", "false": "False", "none": "None"}.get(text.lower(), text)


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


def _usable(check: Check, entry_point: str | None) -> bool:
    """Only checks we can evaluate exactly: a parsable call of the entry point and a literal expected value."""
    try:
        expr = ast.parse(check.expr, mode="eval").body
        ast.literal_eval(check.expected)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        return False
    if entry_point is None:
        return isinstance(expr, ast.Call)
    return any(isinstance(n, ast.Name) and n.id == entry_point for n in ast.walk(expr))


def checks_to_code(checks: list[Check]) -> str:
    """Python that runs every check and fails with expected vs actual for each one that does not hold."""
    if not checks:
        return ""
    calls = "\n".join(
        f"__nativa_check({c.expr!r}, lambda: ({c.expr}), ({c.expected}))" for c in checks
    )
    return f"""
def __nativa_check(src, fn, expected):
    try:
        actual = fn()
    except Exception as exc:
        __nativa_failures.append(f"{{src}} raised {{type(exc).__name__}}: {{exc}}")
        return
    if actual != expected and not (isinstance(actual, float) and isinstance(expected, (int, float))
                                   and abs(actual - expected) <= 1e-6 * max(1.0, abs(expected))):
        __nativa_failures.append(f"{{src}} returned {{actual!r}}, expected {{expected!r}}")

__nativa_failures = []
{calls}
if __nativa_failures:
    raise AssertionError(f"{{len(__nativa_failures)}} of {len(checks)} checks failed: " + "; ".join(__nativa_failures[:3]))
"""
