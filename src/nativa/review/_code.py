"""The static pass over model-written Python: one walk of its AST, never an execution.

Names are resolved through the code's own imports and assignments (`_analysis.py`), constants are folded
(`_fold.py`), and each node type has a handler here or in the detectors it combines (`_effects.py` for
files and network, `_loops.py` for loops and sizes). Each rule's lists and risks come from the policy;
these modules hold only the detection logic.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from nativa.review._analysis import ATTR_GETTERS, IMPORTERS, RULE_TEXT
from nativa.review._effects import EffectChecks
from nativa.review._fold import Bindings, Folder
from nativa.review._loops import LoopChecks, human_bytes
from nativa.review.findings import Finding

_ATTR_SETTERS = frozenset({"builtins.setattr", "builtins.delattr"})
_RUNNERS = frozenset({"builtins.eval", "builtins.exec", "builtins.compile"})
_NAMESPACE_CALLS = frozenset({"builtins.globals", "builtins.locals", "builtins.vars"})
MAX_NESTED_EXEC = 3


class CodeAnalyzer(EffectChecks, LoopChecks):
    """Collects the findings for one module; `analyze` is the only entry point."""

    def analyze(self, tree: ast.Module) -> list[Finding]:
        """Every finding in `tree`, resolving names through their bindings first so an alias (`import os as
        o`) is seen for what it is."""
        self.bindings = Bindings(tree)
        self.folder = Folder(self.bindings, self.resolve)
        for node in self.bindings.nodes:
            if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                body = node.body
                if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                    self._docstrings.add(id(body[0].value))
            elif isinstance(node, ast.Import | ast.ImportFrom):
                self._imports(node)
        handlers: dict[type, Callable[[Any], None]] = {
            ast.Name: self.visit_Name, ast.Attribute: self.visit_Attribute, ast.Subscript: self.visit_Subscript,
            ast.Constant: self.visit_Constant, ast.JoinedStr: self.visit_JoinedStr, ast.BinOp: self.visit_BinOp,
            ast.Call: self.visit_Call, ast.While: self.visit_While, ast.For: self.visit_For,
            ast.AsyncFor: self.visit_For}
        # Walk order puts every parent before its children, which is all the handlers rely on (a reported
        # `os.system` marks its `os` before `os` comes up); one flat loop is several times cheaper than
        # NodeVisitor's recursion, and review runs before every candidate.
        for node in self.bindings.nodes:
            handler = handlers.get(type(node))
            if handler is not None:
                handler(node)
        self._settle_network_imports()
        return self.findings

    def visit_Name(self, node: ast.Name) -> None:
        """A name: introspection names, references the name rules claim, `__import__` passed as a value."""
        intro = self.rules.introspection
        if node.id in intro.attributes and id(node) not in self._reported:
            self.emit("introspection", node, f"{node.id}: {RULE_TEXT['introspection']}", node.id)
        if id(node) not in self._reported and isinstance(node.ctx, ast.Load):
            dotted = self.resolve(node)
            if dotted and self._reference(dotted, node):
                self._mark_chain(node)
            if dotted in IMPORTERS:
                self._importer_as_value(dotted, node)

    def _importer_as_value(self, dotted: str, node: ast.expr) -> None:
        """`__import__` handed around instead of called (`f = __import__; f(name)`) hides what it imports."""
        if id(node) not in self._called:
            self.emit("obfuscated-import", node, f"{dotted.split('.')[-1]} is used as a value, not called: "
                      "what it imports cannot be followed", dotted)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        """An attribute: introspection attributes, claimed references, and a built-in replaced."""
        if node.attr in self.rules.introspection.attributes:
            self.emit("introspection", node, f".{node.attr}: {RULE_TEXT['introspection']}", node.attr)
        if id(node) not in self._reported:
            dotted = self.resolve(node)
            if dotted and self._reference(dotted, node):
                self._mark_chain(node)
            if dotted in IMPORTERS:
                self._importer_as_value(dotted, node)
        if isinstance(node.ctx, ast.Store | ast.Del) and self.resolve(node.value) == "builtins":
            self.emit("introspection", node, f"replaces the built-in {node.attr}: {RULE_TEXT['introspection']}",
                      f"builtins.{node.attr}")

    def visit_Subscript(self, node: ast.Subscript) -> None:
        """A look-up in a module namespace (`sys.modules[...]`, `globals()[...]`): a key built at run time
        hides what it reaches."""
        owner = self._namespace_of(node.value)
        is_globals = isinstance(node.value, ast.Call) and self.resolve(node.value.func) in _NAMESPACE_CALLS
        if owner or is_globals:
            where = owner or "the global namespace"
            key = self.folder.string(node.slice)
            literal = isinstance(node.slice, ast.Constant)
            if key is None:
                self.emit("obfuscated-import", node, f"looks up a name computed at run time in {where}")
            elif not literal:
                self.emit("obfuscated-import", node, f"builds the name {key!r} at run time to look it up in {where}",
                          key)
            if key and owner == "sys.modules":
                self._import(key, node, "reaches")
            elif key and owner and id(node) not in self._reported:
                self._reference(f"{owner}.{key}", node)
            if isinstance(node.ctx, ast.Store | ast.Del) and (owner == "builtins" or is_globals):
                self.emit("introspection", node, f"changes {where} at run time: {RULE_TEXT['introspection']}", key)

    def visit_Constant(self, node: ast.Constant) -> None:
        """A string literal (docstrings aside): sensitive paths and introspection names written out."""
        if isinstance(node.value, str) and id(node) not in self._docstrings:
            self._check_string(node.value, node)

    def _check_string(self, text: str, node: ast.AST, built: bool = False) -> None:
        how = "builds" if built else "names"
        if self.rules.sensitive_path.matches_path(text):
            self.emit("sensitive-path", node, f"{how} the path {text[:120]!r}: credentials, other processes "
                      f"or the kernel", text[:200])
        if text in self.rules.introspection.attributes or text == "__builtins__":
            self.emit("introspection", node, f"{how} the name {text!r}: {RULE_TEXT['introspection']}", text)

    def _folded_string(self, node: ast.expr) -> None:
        if id(node) in self._reported:
            return
        text = self.folder.string(node)
        if text is not None:
            self._check_string(text, node, built=True)
            for child in ast.walk(node):
                if isinstance(child, ast.BinOp | ast.JoinedStr):
                    self._reported.add(id(child))

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        """An f-string: checked as the string it folds to, so a path split across pieces is still seen."""
        self._folded_string(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        """`a + b` is checked as the string it folds to; `x * n` as the size of the value it builds."""
        if isinstance(node.op, ast.Add):
            self._folded_string(node)
        elif isinstance(node.op, ast.Mult) and id(node) not in self._reported:
            size = self.folder.size_of(node)
            limit = self.rules.large_allocation.max_bytes
            if size is not None and size > limit:
                self.emit("large-allocation", node, f"builds {human_bytes(size)} value (the policy's limit is "
                          f"{human_bytes(limit)[2:]})")
                for child in ast.walk(node):
                    self._reported.add(id(child))

    def visit_Call(self, node: ast.Call) -> None:
        """A call: dynamic imports and attribute look-ups, code runners, large buffers, file writes and
        network calls."""
        self._called.add(id(node.func))
        dotted = self.resolve(node.func)
        if dotted in IMPORTERS and node.args:
            self._dynamic_import(dotted, node)
        elif dotted in ATTR_GETTERS | _ATTR_SETTERS and len(node.args) >= 2:
            self._dynamic_attribute(dotted, node)
        elif dotted in _RUNNERS and node.args:
            self._runner(dotted, node)
        elif dotted in ("builtins.bytearray", "builtins.bytes") and len(node.args) == 1:
            size = self.folder.integer(node.args[0])
            limit = self.rules.large_allocation.max_bytes
            if size is not None and size > limit:
                self.emit("large-allocation", node, f"{dotted[9:]}() of {human_bytes(size)[2:]} (the policy's "
                          f"limit is {human_bytes(limit)[2:]})")
        if isinstance(node.func, ast.Attribute) and node.func.attr == "join":
            self._folded_string(node)
        self._file_write(dotted, node)
        if dotted and self.rules.network.enabled and self.rules.network.matches_name(dotted):
            self._network_call(dotted, node)

    def _dynamic_import(self, dotted: str, node: ast.Call) -> None:
        arg = node.args[0]
        name = self.folder.string(arg)
        if isinstance(arg, ast.Constant) and name:
            self._import(name, node, f"imports (through {dotted.split('.')[-1]})")
            return
        if name is None:
            self.emit("obfuscated-import", node, f"{dotted.split('.')[-1]}() of a module name computed at run "
                      "time: the module it imports cannot be known before it runs")
            return
        self.emit("obfuscated-import", node, f"{dotted.split('.')[-1]}() builds the module name {name!r} at run "
                  "time, hiding it from a reader", name)
        self._import(name, node, "imports (under a built name)")

    def _dynamic_attribute(self, dotted: str, node: ast.Call) -> None:
        base = self.resolve(node.args[0])
        if base is None:
            return  # an attribute of a plain object (getattr(self, name)): not a module look-up
        arg = node.args[1]
        attr = self.folder.string(arg)
        func = dotted.split(".")[-1]
        if dotted in _ATTR_SETTERS:
            self.emit("introspection", node, f"{func}() changes module {base} at run time: "
                      f"{RULE_TEXT['introspection']}", f"{base}.{attr}" if attr else base)
        if attr is None:
            self.emit("obfuscated-import", node, f"{func}() on module {base} with a name computed at run time",
                      base)
            return
        if not isinstance(arg, ast.Constant):
            self.emit("obfuscated-import", node, f"{func}() builds the name {attr!r} at run time to reach "
                      f"{base}.{attr}", f"{base}.{attr}")
        self._reference(f"{base}.{attr}", node, f" (through {func})")

    def _runner(self, dotted: str, node: ast.Call) -> None:
        arg = node.args[0]
        decoded = any(
            isinstance(sub, ast.Call) and (
                (isinstance(sub.func, ast.Attribute) and sub.func.attr == "decode")
                or self.rules.obfuscated_import.is_decoder(self.resolve(sub.func) or ""))
            for sub in ast.walk(arg))
        text = self.folder.string(arg)
        if decoded or (text is not None and not isinstance(arg, ast.Constant)):
            self.emit("obfuscated-import", node, f"{dotted[9:]}() of a string that is decoded or built at run "
                      "time: what runs is hidden from a reader")
        if text is not None and self.depth < MAX_NESTED_EXEC:
            try:
                inner = ast.parse(text)
            except (SyntaxError, ValueError, RecursionError):
                return
            nested = CodeAnalyzer(self.rules, self.host_allowed, self.depth + 1, self._claims)
            for found in nested.analyze(inner):
                self.findings.append(replace(found, line=node.lineno, col=node.col_offset,
                                             message=f"in the code {dotted[9:]}() runs: {found.message}"))
