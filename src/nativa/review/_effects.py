"""Effects a call has outside the code: files it writes, hosts it reaches (rules `file-write` and `network`).

A write's target is classified from what the code spells out (`Path("/etc") / name` is outside the work
dir even with `name` unknown), and a network call's host is checked against the run's allow-list, so a
call to a granted host is low and the same call elsewhere is high.
"""

from __future__ import annotations

import ast
import os.path
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import urlsplit

from nativa.review._analysis import RULE_TEXT, Analysis

_OPENERS = frozenset({"builtins.open", "io.open", "_io.open", "io.FileIO", "_io.FileIO", "codecs.open", "os.fdopen"})
_PATH_TYPES = frozenset({"pathlib.Path", "pathlib.PurePath", "pathlib.PosixPath"})
_PATH_ONLY_METHODS = frozenset({"rename", "replace", "chmod", "open"})  # common names on non-path objects too
_WRITE_FLAGS = frozenset({"O_WRONLY", "O_RDWR", "O_CREAT", "O_APPEND", "O_TRUNC"})


class EffectChecks(Analysis):
    """File writes and network calls, called from the call handler in `_code.py`."""

    def _file_write(self, dotted: str | None, node: ast.Call) -> None:
        rule = self.rules.file_write
        if not rule.enabled:
            return
        targets: list[ast.expr | None] = []
        what = f"{(dotted or '').removeprefix('builtins.')}()"
        if dotted in _OPENERS and dotted != "os.fdopen":
            mode = node.args[1] if len(node.args) > 1 else keyword(node, "mode")
            if mode is not None:
                text = self.folder.string(mode)
                if text is None or set(text) & set("wax+"):
                    targets.append(node.args[0] if node.args else keyword(node, "file"))
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
            mode = node.args[0] if node.args else keyword(node, "mode")
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
        first = node.args[0] if node.args else keyword(node, "url") or keyword(node, "address")
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


def keyword(node: ast.Call, name: str) -> ast.expr | None:
    """The value of keyword argument `name` in the call, or None when it is not passed."""
    return next((k.value for k in node.keywords if k.arg == name), None)


def _inside(path: str, roots: tuple[str, ...]) -> bool:
    """Is `path` inside the work dir: relative without `..`, or under one of the policy's `inside` roots?"""
    if path.startswith("~"):
        return False
    normal = os.path.normpath(path)
    if not os.path.isabs(path):
        return normal != ".." and not normal.startswith("../")
    return any(normal == root or normal.startswith(root.rstrip("/") + "/") for root in roots)
