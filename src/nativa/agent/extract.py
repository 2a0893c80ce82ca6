"""Pull runnable code out of a model's reply.

Small local models rarely answer with a clean code block: they wrap code in chatter, split it over several
blocks (the solution, then "example usage"), forget to close the fence, or answer with bare code. Getting
this right is worth more pass@1 than any prompt tweak, so it is its own module with its own tests.
"""

from __future__ import annotations

import ast
import re

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_CODE_START = re.compile(r"^(def |class |import |from |@|async def |if __name__|[A-Za-z_][A-Za-z0-9_]*\s*=[^=]|print\()")
_NON_PYTHON = {"bash", "sh", "shell", "console", "text", "txt", "json", "yaml", "output", "plaintext"}


def extract_code(reply: str, entry_point: str | None = None) -> str | None:
    """The code to run, or None when the reply holds none.

    With `entry_point` (a function the task must define), blocks that only exercise the function are dropped
    and a `__main__` guard is removed, so example usage in the reply cannot fail or hang the checks.
    """
    blocks = [body for lang, body in _FENCE.findall(reply) if lang.lower() not in _NON_PYTHON and body.strip()]
    if not blocks:
        bare = _bare_code(reply)
        blocks = [bare] if bare else []
    if not blocks:
        return None
    if entry_point:
        defining = [b for b in blocks if _defines(b, entry_point)]
        if defining:
            # Keep every block that defines or imports something (helpers, imports), in order.
            blocks = [b for b in blocks if b in defining or _has_definitions(b)]
        code = "\n\n".join(b.strip("\n") for b in blocks)
        return _strip_main_guard(code)
    # A whole program: the longest block is the program; others are usually output or usage.
    if len(blocks) > 1 and all(_parses(b) for b in blocks):
        defs = [b for b in blocks if _has_definitions(b)]
        return "\n\n".join(b.strip("\n") for b in defs) if len(defs) > 1 else max(blocks, key=len).strip("\n")
    return max(blocks, key=len).strip("\n")


def _bare_code(reply: str) -> str | None:
    """Code written without a fence: from the first line that looks like code to the last that parses."""
    lines = reply.strip("\n").splitlines()
    start = next((i for i, line in enumerate(lines) if _CODE_START.match(line)), None)
    if start is None:
        return None
    body = lines[start:]
    # Trim trailing prose until what is left parses.
    for end in range(len(body), 0, -1):
        candidate = "\n".join(body[:end])
        if _parses(candidate):
            return candidate
    return "\n".join(body)


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


def _defines(code: str, name: str) -> bool:
    return re.search(rf"^\s*(async\s+)?def\s+{re.escape(name)}\s*\(", code, re.MULTILINE) is not None


def _has_definitions(code: str) -> bool:
    return re.search(r"^(async\s+def|def|class|import|from)\s", code, re.MULTILINE) is not None


def _strip_main_guard(code: str) -> str:
    """Remove `if __name__ == "__main__":` blocks and top-level prints/asserts of example usage."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code
    keep_lines: set[int] = set(range(1, len(code.splitlines()) + 1))
    for node in tree.body:
        drop = (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name)
            and node.test.left.id == "__name__"
        ) or (
            isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name) and node.value.func.id in {"print", "input"}
        ) or isinstance(node, ast.Assert)
        if drop and node.end_lineno is not None:
            keep_lines -= set(range(node.lineno, node.end_lineno + 1))
    lines = code.splitlines()
    return "\n".join(line for i, line in enumerate(lines, start=1) if i in keep_lines).rstrip() + "\n"
