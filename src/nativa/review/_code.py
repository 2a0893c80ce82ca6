"""The static pass over model-written Python: one walk of its AST, never an execution.

Names are resolved through the code's own imports and assignments (`import os as o; o.system` and
`getattr(os, "sys" + "tem")` are both `os.system`), and constants are folded (`_fold.py`), so the rules in
the policy file match what the code uses, not how it spells it. Each rule's lists and risks come from the
policy; this module holds only the detection logic.
"""

from __future__ import annotations

import ast
import builtins
import os.path
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from nativa.review._config import NAME_RULES, Rules
from nativa.review._fold import HUGE, Bindings, Folder
from nativa.review.findings import Finding, Risk

HostCheck = Callable[[str, int], bool]
_BUILTINS = frozenset(dir(builtins))
_IMPORTERS = frozenset({"builtins.__import__", "importlib.import_module", "importlib.__import__"})
_ATTR_GETTERS = frozenset({"builtins.getattr", "builtins.hasattr"})
_ATTR_SETTERS = frozenset({"builtins.setattr", "builtins.delattr"})
_RUNNERS = frozenset({"builtins.eval", "builtins.exec", "builtins.compile"})
_EXITS = frozenset({"sys.exit", "builtins.exit", "builtins.quit", "os._exit", "os.abort"})
_OPENERS = frozenset({"builtins.open", "io.open", "codecs.open", "os.fdopen"})
_PRINTERS = frozenset({"builtins.print", "sys.stdout.write", "sys.stderr.write", "sys.stdout.buffer.write"})
_PATH_TYPES = frozenset({"pathlib.Path", "pathlib.PurePath", "pathlib.PosixPath"})
_PATH_ONLY_METHODS = frozenset({"rename", "replace", "chmod", "open"})  # common names on non-path objects too
_WRITE_FLAGS = frozenset({"O_WRONLY", "O_RDWR", "O_CREAT", "O_APPEND", "O_TRUNC"})
_NAMESPACE_CALLS = frozenset({"builtins.globals", "builtins.locals", "builtins.vars"})
MAX_NESTED_EXEC = 3
MAX_CLAIMS = 20_000
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


def human_bytes(n: int) -> str:
    if n >= HUGE:
        return "an astronomically large"
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"a {n / size:.3g} {unit}"
    return f"a {n}-byte"


class CodeAnalyzer:
    """Collects the findings for one module; `analyze` is the only entry point."""

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
        self.bindings: Bindings
        self.folder: Folder

    def analyze(self, tree: ast.Module) -> list[Finding]:
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

    # -- emitting --------------------------------------------------------------------------------------

    def emit(self, rule_id: str, node: ast.AST | int, message: str, target: str | None = None,
             risk: Risk | None = None) -> None:
        rule = self.rules.by_id(rule_id)
        if not rule.enabled:
            return
        line = node if isinstance(node, int) else getattr(node, "lineno", 0)
        col = 0 if isinstance(node, int) else getattr(node, "col_offset", 0)
        self.findings.append(Finding(rule_id, risk or rule.risk, line, message, target, col))

    def _claimant(self, dotted: str) -> str | None:
        """The first name rule that claims `dotted` (memoised: resolution runs on every name)."""
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
                continue
            full = f"{node.module}.{alias.name}"
            self.aliases[alias.asname or alias.name] = full
            if module_claimed:
                continue  # the module's own finding covers every name taken from it
            if self._module_claimant(full) is not None:
                self._import(full, node)  # from urllib import request
            else:
                self._reference(full, node)  # from os import system

    # -- names -----------------------------------------------------------------------------------------

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
            return f"builtins.{node.id}" if node.id in _BUILTINS or node.id.startswith("__") else None
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Call) and node.args:
            func = self.resolve(node.func)
            if func in _IMPORTERS:
                name = self.folder.string(node.args[0])
                if name and func == "builtins.__import__" and len(node.args) < 4 and not node.keywords:
                    return name.split(".")[0]
                return name
            if func in _ATTR_GETTERS and len(node.args) >= 2:
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

    def visit_Name(self, node: ast.Name) -> None:
        intro = self.rules.introspection
        if node.id in intro.attributes and id(node) not in self._reported:
            self.emit("introspection", node, f"{node.id}: {RULE_TEXT['introspection']}", node.id)
        if id(node) not in self._reported and isinstance(node.ctx, ast.Load):
            dotted = self.resolve(node)
            if dotted and self._reference(dotted, node):
                self._mark_chain(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in self.rules.introspection.attributes:
            self.emit("introspection", node, f".{node.attr}: {RULE_TEXT['introspection']}", node.attr)
        if id(node) not in self._reported:
            dotted = self.resolve(node)
            if dotted and self._reference(dotted, node):
                self._mark_chain(node)
        if isinstance(node.ctx, ast.Store | ast.Del) and self.resolve(node.value) == "builtins":
            self.emit("introspection", node, f"replaces the built-in {node.attr}: {RULE_TEXT['introspection']}",
                      f"builtins.{node.attr}")

    def visit_Subscript(self, node: ast.Subscript) -> None:
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
        self._folded_string(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
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

    # -- calls -----------------------------------------------------------------------------------------

    def visit_Call(self, node: ast.Call) -> None:
        dotted = self.resolve(node.func)
        if dotted in _IMPORTERS and node.args:
            self._dynamic_import(dotted, node)
        elif dotted in _ATTR_GETTERS | _ATTR_SETTERS and len(node.args) >= 2:
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

    def _file_write(self, dotted: str | None, node: ast.Call) -> None:
        rule = self.rules.file_write
        if not rule.enabled:
            return
        targets: list[ast.expr | None] = []
        what = f"{(dotted or '').removeprefix('builtins.')}()"
        if dotted in _OPENERS and dotted != "os.fdopen":
            mode = node.args[1] if len(node.args) > 1 else _keyword(node, "mode")
            if mode is not None:
                text = self.folder.string(mode)
                if text is None or set(text) & set("wax+"):
                    targets.append(node.args[0] if node.args else _keyword(node, "file"))
        elif dotted == "os.open" and node.args:
            flags = node.args[1] if len(node.args) > 1 else None
            names = {n.attr if isinstance(n, ast.Attribute) else getattr(n, "id", "")
                     for n in ast.walk(flags)} if flags is not None else set()
            if flags is None or names & _WRITE_FLAGS or not isinstance(flags, ast.Attribute | ast.BinOp | ast.Name):
                targets.append(node.args[0])
        elif dotted in rule.calls:
            for position in rule.calls[dotted]:
                targets.append(node.args[position] if position < len(node.args) else None)
        elif isinstance(node.func, ast.Attribute) and node.func.attr in rule.methods:
            receiver = node.func.value
            if node.func.attr in _PATH_ONLY_METHODS and not self._path_like(receiver):
                return
            what = f".{node.func.attr}()"
            targets.append(receiver)
        elif isinstance(node.func, ast.Attribute) and node.func.attr == "open" and self._path_like(node.func.value):
            mode = node.args[0] if node.args else _keyword(node, "mode")
            text = self.folder.string(mode) if mode is not None else "r"
            if text is None or set(text) & set("wax+"):
                what = ".open()"
                targets.append(node.func.value)
        for target in targets:
            self._classify_write(what, target, node)

    def _path_like(self, node: ast.expr) -> bool:
        if isinstance(node, ast.Call):
            return self.resolve(node.func) in _PATH_TYPES
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            return self._path_like(node.left)
        if isinstance(node, ast.Name):
            values = self.bindings.of(node.id)
            return bool(values) and all(self._path_like(v) for v in values)  # type: ignore[union-attr]
        return False

    def _classify_write(self, what: str, target: ast.expr | None, node: ast.Call) -> None:
        rule = self.rules.file_write
        known = self.folder.path_prefix(target) if target is not None else None
        if known is None:
            self.emit("file-write", node, f"{what} writes to a path computed at run time",
                      risk=rule.unknown_target_risk)
            return
        paths, complete = known
        outside = sorted(p for p in paths if not _inside(p, rule.inside))
        if outside:
            shown = outside[0] + ("" if complete else "...")
            self.emit("file-write", node, f"{what} writes outside the work dir: {shown!r}", outside[0])
        elif not complete:
            self.emit("file-write", node, f"{what} writes under {min(paths)!r} to a name computed at run "
                      "time", risk=rule.unknown_target_risk)
        else:
            for path in sorted(paths):
                self.emit("file-write", node, f"{what} writes {path!r} in the work dir", path, rule.inside_risk)

    def _network_call(self, dotted: str, node: ast.Call) -> None:
        hosts = list(self._hosts_of(node))
        self._mark_chain(node.func)
        network = self.rules.network
        if hosts and all(self.host_allowed(h, p) for h, p in hosts):
            for host, _ in hosts:
                self._net_hosts.add(host)
                self.emit("network", node, f"{dotted} to {host}, which the run's allow-list grants", host,
                          network.allowed_host_risk)
            return
        self._net_unallowed = True
        bad = [h for h, p in hosts if not self.host_allowed(h, p)]
        if bad:
            self.emit("network", node, f"{dotted} to {bad[0]}, which is not on the run's allow-list", bad[0])
        else:
            self.emit("network", node, f"{dotted}: {RULE_TEXT['network']} (no host visible in the code)", dotted)

    def _hosts_of(self, node: ast.Call) -> Iterator[tuple[str, int]]:
        first = node.args[0] if node.args else _keyword(node, "url") or _keyword(node, "address")
        if first is None:
            return
        if isinstance(first, ast.Tuple) and len(first.elts) >= 2:
            host, port = self.folder.string(first.elts[0]), self.folder.integer(first.elts[1])
            if host and port is not None:
                yield host.lower(), port
            return
        url = self.folder.string(first)
        if url and "://" in url:
            try:
                parts = urlsplit(url)
                port = parts.port or (443 if parts.scheme in ("https", "wss") else 80)
            except ValueError:
                return
            if parts.hostname:
                yield parts.hostname.lower(), port

    def _settle_network_imports(self) -> None:
        """A network module imported only for calls to allowed hosts is as risky as those calls."""
        if self._net_unallowed or not self._net_hosts:
            return
        low = self.rules.network.allowed_host_risk
        for index in self._net_imports:
            self.findings[index] = replace(self.findings[index], risk=low)

    # -- loops and output ------------------------------------------------------------------------------

    def visit_While(self, node: ast.While) -> None:
        test = node.test
        always = isinstance(test, ast.Constant) and bool(test.value)
        if always and not self._exits(node.body):
            self.emit("unbounded-loop", node, "`while` loop with a constant true test and no break, return, "
                      "raise or exit inside: it never ends")

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
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
            if isinstance(node, ast.Call) and self.resolve(node.func) in _PRINTERS:
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


def _keyword(node: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in node.keywords if k.arg == name), None)


def _inside(path: str, roots: tuple[str, ...]) -> bool:
    """Is `path` inside the work dir: relative without `..`, or under one of the policy's `inside` roots?"""
    if path.startswith("~"):
        return False
    normal = os.path.normpath(path)
    if not os.path.isabs(path):
        return normal != ".." and not normal.startswith("../")
    return any(normal == root or normal.startswith(root.rstrip("/") + "/") for root in roots)
