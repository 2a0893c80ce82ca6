"""What model-written code refers to: its imports, and every name resolved through imports and assignments.

`import os as o; o.system`, `from os import system` and `getattr(os, "sys" + "tem")` all resolve to
`os.system` here, so the rules match what the code uses, not how it spells it. This is the state and the
vocabulary the detectors (`_code.py`, `_effects.py`, `_loops.py`) share: one `Analysis` per module reviewed.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Callable

from nativa.review._config import NAME_RULES, Rules
from nativa.review._fold import Bindings, Folder
from nativa.review.findings import Finding, Risk

HostCheck = Callable[[str, int], bool]
_BUILTINS = frozenset(dir(builtins))
IMPORTERS = frozenset({"builtins.__import__", "importlib.import_module", "importlib.__import__"})
ATTR_GETTERS = frozenset({"builtins.getattr", "builtins.hasattr"})
MAX_CLAIMS = 20_000
_OS_ALIASES = ("posix.", "nt.")  # the C modules behind os: posix.system is os.system
RULE_TEXT = {
    "subprocess": "starts a program or a shell",
    "network": "uses the network",
    "eval-exec": "runs code built at run time, which this review cannot see",
    "ctypes": "calls C directly, around Python's checks",
    "deserialisation": "loads a format that can run code while loading",
    "process-control": "kills, forks, signals or changes the identity of processes",
    "introspection": "reaches frames, the garbage collector or interpreter internals (a harness escape route)",
    "environment": "reads or changes environment variables, where hosts keep keys",
}


class Analysis:
    """The findings so far and the names the code has bound; the detectors add to `findings` via `emit`."""

    def __init__(self, rules: Rules, host_allowed: HostCheck, depth: int = 0,
                 claims: dict[str, str | None] | None = None) -> None:
        self.rules = rules
        self.host_allowed = host_allowed
        self.depth = depth
        self.findings: list[Finding] = []
        self.aliases: dict[str, str] = {}
        self._reported: set[int] = set()
        self._docstrings: set[int] = set()
        self._resolving: set[str] = set()
        self._counted: set[int] = set()  # loops whose output an enclosing loop already counted
        self._claims: dict[str, str | None] = claims if claims is not None else {}
        self._net_imports: list[int] = []
        self._net_hosts: set[str] = set()
        self._net_unallowed = False
        self._star_modules: list[str] = []
        self._called: set[int] = set()  # expressions that are the callee of a call
        self.bindings: Bindings
        self.folder: Folder

    def emit(self, rule_id: str, node: ast.AST | int, message: str, target: str | None = None,
             risk: Risk | None = None) -> None:
        """Add a finding at the node's line, at the rule's risk unless `risk` says otherwise; a rule the
        policy disabled emits nothing."""
        rule = self.rules.by_id(rule_id)
        if not rule.enabled:
            return
        line = node if isinstance(node, int) else getattr(node, "lineno", 0)
        col = 0 if isinstance(node, int) else getattr(node, "col_offset", 0)
        self.findings.append(Finding(rule_id, risk or rule.risk, line, message, target, col))

    def _claimant(self, dotted: str) -> str | None:
        """The first name rule that claims `dotted` (memoised: resolution runs on every name)."""
        if dotted.startswith(_OS_ALIASES):
            dotted = "os." + dotted.split(".", 1)[1]
        if dotted not in self._claims:
            if len(self._claims) > MAX_CLAIMS:  # names come from hostile code: keep the cache bounded
                self._claims.clear()
            self._claims[dotted] = next((r for r in NAME_RULES if self.rules.by_id(r).enabled
                                         and self.rules.by_id(r).matches_name(dotted)), None)
        return self._claims[dotted]

    def _reference(self, dotted: str, node: ast.AST, note: str = "") -> bool:
        """Report `dotted` under the first name rule that claims it; True when one did."""
        rule_id = self._claimant(dotted)
        if rule_id is None:
            return False
        if rule_id == "network":
            self._net_unallowed = True
        self.emit(rule_id, node, f"{dotted}{note}: {RULE_TEXT[rule_id]}", dotted)
        return True

    def _module_claimant(self, module: str) -> str | None:
        """The first name rule that claims importing `module` (memoised with the names, under `import:`)."""
        key = "import:" + module
        if key not in self._claims:
            self._claims[key] = next((r for r in NAME_RULES if self.rules.by_id(r).enabled
                                      and self.rules.by_id(r).claims_module(module)), None)
        return self._claims[key]

    def _import(self, module: str, node: ast.AST, how: str = "imports") -> None:
        rule_id = self._module_claimant(module)
        if rule_id is not None:
            if rule_id == "network":
                self._net_imports.append(len(self.findings))
            self.emit(rule_id, node, f"{how} {module}: {RULE_TEXT[rule_id]}", module)
        elif not self.rules.import_.allows(module):
            self.emit("import", node, f"{how} {module}, which is not on the policy's allow-list", module)

    def _imports(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                self.aliases[alias.asname or top] = alias.name if alias.asname else top
                self._import(alias.name, node)
            return
        if node.level or not node.module:
            return  # relative imports name the code's own package, which model-written code does not have
        module_claimed = self._module_claimant(node.module) is not None
        self._import(node.module, node)
        for alias in node.names:
            if alias.name == "*":
                self._star_modules.append(node.module)
                continue
            full = f"{node.module}.{alias.name}"
            self.aliases[alias.asname or alias.name] = full
            if module_claimed:
                continue  # the module's own finding covers every name taken from it
            if self._module_claimant(full) is not None:
                self._import(full, node)  # from urllib import request
            else:
                self._reference(full, node)  # from os import system

    def resolve(self, node: ast.expr) -> str | None:
        """The dotted name an expression refers to (`os.system`, `builtins.eval`), or None if not a name."""
        if isinstance(node, ast.Name):
            if node.id in self.aliases:
                return self.aliases[node.id]
            if node.id == "__builtins__":
                return "builtins"
            values = self.bindings.of(node.id)
            if values and len(values) == 1 and node.id not in self._resolving:
                self._resolving.add(node.id)
                try:
                    bound = self.resolve(values[0])
                finally:
                    self._resolving.discard(node.id)
                if bound is not None:
                    return bound
            if node.id in _BUILTINS or node.id.startswith("__"):
                return f"builtins.{node.id}"
            for module in self._star_modules:  # from os import *; system(...) is os.system
                if self._claimant(f"{module}.{node.id}") is not None:
                    return f"{module}.{node.id}"
            return None
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Call) and node.args:
            func = self.resolve(node.func)
            if func in IMPORTERS:
                name = self.folder.string(node.args[0])
                if name and func == "builtins.__import__" and len(node.args) < 4 and not node.keywords:
                    return name.split(".")[0]
                return name
            if func in ATTR_GETTERS and len(node.args) >= 2:
                base, attr = self.resolve(node.args[0]), self.folder.string(node.args[1])
                return f"{base}.{attr}" if base and attr else None
        if isinstance(node, ast.Subscript):
            key = self.folder.string(node.slice)
            owner = self._namespace_of(node.value)
            if key and owner == "sys.modules":
                return key
            if key and owner:
                return f"{owner}.{key}"
        return None

    def _namespace_of(self, node: ast.expr) -> str | None:
        """`sys.modules`, or the module whose namespace `vars(m)` / `m.__dict__` is; None otherwise."""
        if isinstance(node, ast.Attribute) and node.attr == "__dict__":
            return self.resolve(node.value)
        if isinstance(node, ast.Call) and self.resolve(node.func) == "builtins.vars" and node.args:
            return self.resolve(node.args[0])
        dotted = self.resolve(node)
        return "sys.modules" if dotted == "sys.modules" else None

    def _mark_chain(self, node: ast.expr) -> None:
        """The names inside a reported reference are not reported again (`subprocess` in `subprocess.run`)."""
        while True:
            self._reported.add(id(node))
            if isinstance(node, ast.Attribute):
                node = node.value
            elif isinstance(node, ast.Call):
                node = node.func
            else:
                return
