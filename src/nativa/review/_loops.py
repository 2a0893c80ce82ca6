"""Loops that never end and output or memory the code spells out (rules `unbounded-loop`, `large-allocation`).

Only what is visible counts: a constant true `while` test with no way out, an endless iterator with no
break, a constant `range` past the policy's limit, output printed inside constant-range loops multiplied
through their nesting.
"""

from __future__ import annotations

import ast

from nativa.review._analysis import Analysis
from nativa.review._fold import HUGE

_EXITS = frozenset({"sys.exit", "builtins.exit", "builtins.quit", "os._exit", "os.abort"})
PRINTERS = frozenset({"builtins.print", "sys.stdout.write", "sys.stderr.write", "sys.stdout.buffer.write"})


def human_bytes(n: int) -> str:
    """A size in words for a finding's message ("a 1.5 GiB"), so a reviewer need not count digits."""
    if n >= HUGE:
        return "an astronomically large"
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"a {n / size:.3g} {unit}"
    return f"a {n}-byte"


class LoopChecks(Analysis):
    """`while` and `for` handlers, and the loop-exit test they share."""

    def visit_While(self, node: ast.While) -> None:
        """A `while` with a constant true test and no way out never ends."""
        test = node.test
        always = isinstance(test, ast.Constant) and bool(test.value)
        if always and not self._exits(node.body):
            self.emit("unbounded-loop", node, "`while` loop with a constant true test and no break, return, "
                      "raise or exit inside: it never ends")

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        """A loop over an endless iterator with no way out, or a constant range past the limit; a counted
        loop's prints are checked against the output limit."""
        iterator = node.iter
        count: int | None = None
        if isinstance(iterator, ast.Call):
            dotted = self.resolve(iterator.func)
            endless = self.rules.unbounded_loop.endless
            if dotted in endless and not (dotted == "itertools.repeat" and len(iterator.args) > 1):
                if not self._exits(node.body):
                    self.emit("unbounded-loop", node, f"loop over {dotted}() with no break, return, raise or "
                              "exit inside: it never ends", dotted)
            elif dotted == "builtins.range":
                count = self._range_count(node)
        limit = self.rules.unbounded_loop.max_iterations
        if count is not None and count > limit and not self._exits(node.body):
            shown = "an astronomical number of" if count >= HUGE else f"{count:,}"
            self.emit("unbounded-loop", node, f"loop of {shown} iterations (the policy's limit is {limit:,})")
        if count is not None and count > 1 and id(node) not in self._counted:
            self._printed(node.body, count)

    def _range_count(self, node: ast.For | ast.AsyncFor) -> int | None:
        iterator = node.iter
        if isinstance(iterator, ast.Call) and iterator.args and self.resolve(iterator.func) == "builtins.range":
            bounds = [self.folder.integer(a) for a in iterator.args[:2]]
            if all(b is not None for b in bounds):
                return max(0, bounds[-1] - (bounds[0] if len(bounds) == 2 else 0))  # type: ignore[operator]
        return None

    def _printed(self, nodes: list[ast.stmt] | list[ast.AST], iterations: int) -> None:
        """Output printed inside constant-range loops, multiplied through the nesting (`for` in `for`)."""
        for node in nodes:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
                continue
            if isinstance(node, ast.For | ast.AsyncFor):
                self._counted.add(id(node))  # its output is counted here, with the outer loops' factor
                inner = self._range_count(node)
                self._printed(node.body, min(HUGE, iterations * max(inner or 1, 1)))
                self._printed(node.orelse, iterations)
                continue
            if isinstance(node, ast.Call) and self.resolve(node.func) in PRINTERS:
                self._output(node, iterations)
            self._printed(list(ast.iter_child_nodes(node)), iterations)

    def _output(self, node: ast.Call, iterations: int) -> None:
        sizes = [self.folder.size_of(a) for a in node.args]
        size = sum(s for s in sizes if s is not None)
        total = min(HUGE, size * iterations)
        limit = self.rules.large_allocation.max_output_bytes
        if size and total > limit:
            self.emit("large-allocation", node, f"prints {human_bytes(total)[2:]} in a loop (the policy's output "
                      f"limit is {human_bytes(limit)[2:]})")

    def _exits(self, body: list[ast.stmt]) -> bool:
        """True when the loop body can leave the loop: break (of this loop), return, raise, yield, exit()."""
        stack: list[tuple[ast.AST, bool]] = [(stmt, False) for stmt in body]
        while stack:
            node, nested = stack.pop()
            if isinstance(node, ast.Break) and not nested:
                return True
            if isinstance(node, ast.Return | ast.Raise | ast.Yield | ast.YieldFrom | ast.Await):
                return True
            if isinstance(node, ast.Call) and self.resolve(node.func) in _EXITS:
                return True
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
                continue
            inner = nested or isinstance(node, ast.For | ast.AsyncFor | ast.While)
            stack.extend((child, inner) for child in ast.iter_child_nodes(node))
        return False
