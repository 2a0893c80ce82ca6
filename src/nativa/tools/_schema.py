"""Turn pydantic's JSON schema into the plain, self-contained form that models and grammars need.

pydantic emits `title`s, `$defs` and `$ref`s. A model reads titles as noise, and a grammar built from one
tool's schema embedded inside the agent's step schema cannot follow a `$ref` that points at another
document's `$defs`, so references are inlined and titles dropped (a property *named* `title` is kept).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonref

from nativa.errors import SchemaError

_NESTED_MAPS = ("properties", "patternProperties")
_DROPPED = ("title", "$defs", "definitions", "examples")


def clean_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `schema` with `$ref`s inlined (by `jsonref`, sibling keys merged) and annotation-only keys
    removed; a recursive type, which no grammar can bound, is refused."""
    try:
        inlined = jsonref.replace_refs(dict(schema), merge_props=True, proxies=False, lazy_load=False)
    except jsonref.JsonRefError as exc:
        ref = exc.reference.get("$ref") if isinstance(exc.reference, Mapping) else exc.reference
        raise SchemaError(f"unresolvable $ref {ref!r}; only local #/$defs references are supported") from None
    return _clean(inlined, ())


def _clean(node: Any, path: tuple[int, ...]) -> Any:
    if isinstance(node, list):
        return [_clean(x, path) for x in node]
    if not isinstance(node, Mapping):
        return node
    if id(node) in path:  # an inlined reference that contains itself
        raise SchemaError("tool arguments may not be recursive types; a $ref refers to itself")
    inner = (*path, id(node))
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED:
            continue
        if key in _NESTED_MAPS and isinstance(value, Mapping):
            out[key] = {k: _clean(v, inner) for k, v in value.items()}
        else:
            out[key] = _clean(value, inner)
    return out


def describe_type(schema: Mapping[str, Any]) -> str:
    """A short type name for the prompt: `string`, `integer`, `array of string`, `"GET" | "HEAD"`."""
    if "enum" in schema:
        return " | ".join(repr(v) if not isinstance(v, str) else f'"{v}"' for v in schema["enum"])
    if "const" in schema:
        return repr(schema["const"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            parts = [describe_type(s) for s in schema[key] if s.get("type") != "null"]
            return " | ".join(parts) or "null"
    kind = schema.get("type", "any")
    if kind == "array" and isinstance(schema.get("items"), Mapping):
        return f"array of {describe_type(schema['items'])}"
    return str(kind)
