"""What the code's own constants say: strings, numbers and paths worked out from the AST, never by running it.

`__import__("o" + "s")`, `"".join(["sub", "process"])`, `base64.b64decode("b3M=")`, `Path("/etc") / name`,
`bytearray(8 * 1024 ** 3)`: each of these is visible without execution, and folding them turns an unknown
into a named target (a module, a path, a size). Every step is bounded (string length, exponent size,
recursion depth) so hostile code cannot make the reviewer itself slow or big.
"""

from __future__ import annotations

import ast
import base64
import binascii
import codecs
import math
import os.path
from collections import deque
from collections.abc import Callable, Iterable, Iterator

MAX_STR = 4096  # longest string folded (longer ones are only measured, see `size_of`)
MAX_DEPTH = 24
HUGE = 1 << 62  # stands for "bigger than any threshold" when a number would be expensive to compute
_STR_METHODS = {"lower", "upper", "strip", "lstrip", "rstrip", "swapcase", "title", "capitalize", "casefold"}
_DECODERS: dict[str, Callable[[bytes], bytes]] = {
    "base64.b64decode": base64.b64decode, "base64.standard_b64decode": base64.standard_b64decode,
    "base64.urlsafe_b64decode": base64.urlsafe_b64decode, "base64.b32decode": base64.b32decode,
    "base64.b16decode": base64.b16decode, "base64.b85decode": base64.b85decode,
    "base64.a85decode": base64.a85decode, "base64.decodebytes": base64.decodebytes,
    "binascii.unhexlify": binascii.unhexlify, "binascii.a2b_hex": binascii.a2b_hex,
    "binascii.a2b_base64": binascii.a2b_base64,
}

Resolver = Callable[[ast.expr], str | None]
_Folded = set[str] | str | bytes | None
_NAMED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.ExceptHandler)  # statements that bind a name


def walk(tree: ast.AST) -> Iterator[ast.AST]:
    """`ast.walk`'s order (parents before children), without its per-node generators: twice as fast here."""
    queue = deque([tree])
    while queue:
        node = queue.popleft()
        for name in node._fields:
            value = getattr(node, name, None)
            if isinstance(value, ast.AST):
                queue.append(value)
            elif isinstance(value, list):
                queue.extend(item for item in value if isinstance(item, ast.AST))
        yield node


class Bindings:
    """Every value each name is bound to in the module; a name with any binding we cannot see is unknown.

    Scopes are merged on purpose: the reviewer would rather say "unknown" than trust a constant that
    another function's local of the same name contradicts.
    """

    def __init__(self, tree: ast.AST) -> None:
        self.values: dict[str, list[ast.expr]] = {}
        self.unknown: set[str] = set()
        self.nodes: list[ast.AST] = []  # every node, in walk order: one walk serves every pre-pass
        valued: set[int] = set()
        stored: list[ast.Name] = []
        for node in walk(tree):
            self.nodes.append(node)
            if isinstance(node, ast.Name):
                if not isinstance(node.ctx, ast.Load):
                    stored.append(node)
            elif isinstance(node, ast.Assign | ast.AnnAssign | ast.NamedExpr) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        self.values.setdefault(target.id, []).append(node.value)
                        valued.add(id(target))
            elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
                if isinstance(node.target, ast.Name) and isinstance(node.iter, ast.List | ast.Tuple | ast.Set):
                    self.values.setdefault(node.target.id, []).extend(node.iter.elts)
                    valued.add(id(node.target))
            elif isinstance(node, ast.arg):
                self.unknown.add(node.arg)
            elif isinstance(node, _NAMED) and node.name:
                self.unknown.add(node.name)
        self.unknown.update(node.id for node in stored if id(node) not in valued)

    def of(self, name: str) -> list[ast.expr] | None:
        """The expressions `name` may hold, or None when some binding of it is not visible."""
        if name in self.unknown or name not in self.values:
            return None
        return self.values[name]


class Folder:
    """Constant folding over one module's AST, using its bindings and the caller's name resolution."""

    def __init__(self, bindings: Bindings, resolve: Resolver) -> None:
        self.bindings = bindings
        self.resolve = resolve
        self._active: set[str] = set()

    # -- strings -------------------------------------------------------------------------------------

    def strings(self, node: ast.expr, depth: int = 0) -> set[str] | None:
        """Every string `node` can be (one for most expressions), or None when any is not visible."""
        if isinstance(node, ast.Name):
            found = self._via_name(node.id, lambda v: self.strings(v, depth + 1))
            return {v for v in found if isinstance(v, str)} if found is not None else None
        one = self.string(node, depth)
        return {one} if one is not None else None

    def string(self, node: ast.expr, depth: int = 0) -> str | None:
        """The one string `node` evaluates to, when its parts are all constants."""
        value = self._value(node, depth)
        if isinstance(value, bytes):
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError:
                return None
        return value if isinstance(value, str) else None

    def _value(self, node: ast.expr, depth: int) -> str | bytes | None:
        if depth > MAX_DEPTH:
            return None
        d = depth + 1
        if isinstance(node, ast.Constant):
            return node.value if isinstance(node.value, str | bytes) and len(node.value) <= MAX_STR else None
        if isinstance(node, ast.Name):
            found = self._via_name(node.id, lambda v: self._value(v, d))
            return next(iter(found)) if found and len(found) == 1 else None
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Add):
                left, right = self._value(node.left, d), self._value(node.right, d)
                if type(left) is type(right) and left is not None and right is not None:
                    joined = left + right  # type: ignore[operator]
                    return joined if len(joined) <= MAX_STR else None
                return None
            return None
        if isinstance(node, ast.JoinedStr):
            parts = []
            for part in node.values:
                if isinstance(part, ast.FormattedValue):
                    if part.format_spec is not None or part.conversion != -1:
                        return None
                    part = part.value
                text = self.string(part, d)
                if text is None:
                    return None
                parts.append(text)
            return "".join(parts)
        if isinstance(node, ast.Subscript):
            base = self._value(node.value, d)
            if base is None:
                return None
            return _sliced(base, node.slice, self, d)
        if isinstance(node, ast.Call):
            return self._call_value(node, d)
        return None

    def _call_value(self, node: ast.Call, depth: int) -> str | bytes | None:
        func = node.func
        args = node.args
        if isinstance(func, ast.Attribute):
            if func.attr == "join" and len(args) == 1 and not node.keywords:
                sep = self._value(func.value, depth)
                items = _elements(args[0])
                if sep is not None and items is not None:
                    values = [self._value(item, depth) for item in items]
                    if all(type(v) is type(sep) for v in values):
                        joined = sep.join(values)  # type: ignore[arg-type]
                        return joined if len(joined) <= MAX_STR else None
                return None
            if func.attr in _STR_METHODS and not args:
                base = self._value(func.value, depth)
                return getattr(base, func.attr)() if isinstance(base, str | bytes) else None
            if func.attr == "decode" and len(args) <= 1:
                base = self._value(func.value, depth)
                return base.decode("utf-8", "replace") if isinstance(base, bytes) else None
        dotted = self.resolve(func)
        if dotted == "builtins.chr" and len(args) == 1:
            code = self.integer(args[0], depth)
            return chr(code) if code is not None and 0 <= code < 0x110000 else None
        if dotted in ("builtins.str", "builtins.bytes") and len(args) == 1:
            return self._value(args[0], depth)
        if dotted in ("builtins.bytes.fromhex", "bytes.fromhex") and len(args) == 1:
            text = self.string(args[0], depth)
            try:
                return bytes.fromhex(text) if text is not None else None
            except ValueError:
                return None
        if dotted in _DECODERS and len(args) == 1:
            data = self._value(args[0], depth)
            raw = data.encode() if isinstance(data, str) else data
            try:
                return _DECODERS[dotted](raw) if raw is not None else None
            except (ValueError, binascii.Error):
                return None
        if dotted == "codecs.decode" and len(args) == 2:
            data, codec = self.string(args[0], depth), self.string(args[1], depth)
            if data is not None and codec is not None and codec.replace("_", "").lower() == "rot13":
                return codecs.decode(data, "rot13")
        return None

    def _via_name(self, name: str, fold: Callable[[ast.expr], _Folded]) -> set[str | bytes] | None:
        if name in self._active:
            return None
        values = self.bindings.of(name)
        if not values:
            return None
        self._active.add(name)
        try:
            out: set[str | bytes] = set()
            for value in values:
                got = fold(value)
                if got is None:
                    return None
                out |= got if isinstance(got, set) else {got}
            return out
        finally:
            self._active.discard(name)

    # -- numbers and sizes -------------------------------------------------------------------------------

    def integer(self, node: ast.expr, depth: int = 0) -> int | None:
        """An int the expression spells out; HUGE stands in for numbers too big to bother computing."""
        if depth > MAX_DEPTH:
            return None
        d = depth + 1
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool):
                return int(value)
            if isinstance(value, int):
                return value
            return int(value) if isinstance(value, float) and math.isfinite(value) and value.is_integer() else None
        if isinstance(node, ast.Name):
            found = self._via_name(node.id, lambda v: _as_str(self.integer(v, d)))
            return int(next(iter(found))) if found and len(found) == 1 else None  # type: ignore[arg-type]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            inner = self.integer(node.operand, d)
            return -inner if inner is not None else None
        if isinstance(node, ast.BinOp):
            left, right = self.integer(node.left, d), self.integer(node.right, d)
            if left is None or right is None:
                return None
            return _arith(node.op, left, right)
        return None

    def size_of(self, node: ast.expr, depth: int = 0) -> int | None:
        """Bytes a str/bytes/list expression will take, for `"x" * 10**9` or `[0] * n`, without building it."""
        if depth > MAX_DEPTH:
            return None
        d = depth + 1
        if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
            return len(node.value)
        if isinstance(node, ast.List | ast.Tuple):
            return 8 * len(node.elts)
        if isinstance(node, ast.Name):
            found = self._via_name(node.id, lambda v: _as_str(self.size_of(v, d)))
            return max(int(s) for s in found) if found else None  # type: ignore[call-overload]
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
            for seq, count in ((node.left, node.right), (node.right, node.left)):
                size, times = self.size_of(seq, d), self.integer(count, d)
                if size is not None and times is not None:
                    return min(HUGE, size * max(times, 0))
            return None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self.size_of(node.left, d), self.size_of(node.right, d)
            return left + right if left is not None and right is not None else None
        text = self._value(node, d)
        return len(text) if text is not None else None

    # -- paths ---------------------------------------------------------------------------------------

    def path_prefix(self, node: ast.expr, depth: int = 0) -> tuple[set[str], bool] | None:
        """The path(s) `node` names and whether they are complete (False: only a leading part is known).

        `Path("/etc") / name` gives ({"/etc"}, False): enough to say the write is outside the work dir.
        """
        if depth > MAX_DEPTH:
            return None
        d = depth + 1
        whole = self.strings(node, d)
        if whole is not None:
            return whole, True
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            return _joined_prefix([node.left, node.right], self, d)
        if isinstance(node, ast.Call):
            dotted = self.resolve(node.func)
            if dotted in ("pathlib.Path", "pathlib.PurePath", "pathlib.PosixPath", "os.path.join") and node.args:
                return _joined_prefix(node.args, self, d)
        if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
            head = node.values[0].value
            return ({head}, False) if isinstance(head, str) and head.startswith(("/", "~")) else None
        return None


def _joined_prefix(parts: Iterable[ast.expr], folder: Folder, depth: int) -> tuple[set[str], bool] | None:
    known: set[str] = {""}
    for part in parts:
        got = folder.path_prefix(part, depth)
        if got is None:
            return (known, False) if known != {""} else None
        values, complete = got
        known = {os.path.join(k, v) if k else v for k in known for v in values}
        if not complete:
            return known, False
    return known, True


def _elements(node: ast.expr) -> list[ast.expr] | None:
    return list(node.elts) if isinstance(node, ast.List | ast.Tuple) else None


def _as_str(value: int | None) -> str | None:
    return str(value) if value is not None else None


def _sliced(base: str | bytes, index: ast.expr, folder: Folder, depth: int) -> str | bytes | None:
    if isinstance(index, ast.Slice):
        bounds = []
        for part in (index.lower, index.upper, index.step):
            value = folder.integer(part, depth) if part is not None else None
            if part is not None and value is None:
                return None
            bounds.append(value)
        if bounds[2] == 0:
            return None
        return base[slice(*bounds)]
    position = folder.integer(index, depth)
    if position is None or not -len(base) <= position < len(base):
        return None
    item = base[position]
    return item if isinstance(item, str) else None


def _arith(op: ast.operator, left: int, right: int) -> int | None:
    if HUGE in (abs(left), abs(right)):
        return HUGE
    if isinstance(op, ast.Add):
        return left + right
    if isinstance(op, ast.Sub):
        return left - right
    if isinstance(op, ast.Mult):
        return min(HUGE, left * right) if left >= 0 and right >= 0 else left * right
    if isinstance(op, ast.FloorDiv):
        return left // right if right else None
    if isinstance(op, ast.Pow):
        if right < 0:
            return None
        if abs(left) > 1 and right * math.log2(abs(left)) > 62:
            return HUGE
        return int(left**right)
    if isinstance(op, ast.LShift):
        return HUGE if right > 62 else (left << right if right >= 0 else None)
    return None
