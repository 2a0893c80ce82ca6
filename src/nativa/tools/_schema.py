"""Turn pydantic's JSON schema into the plain, self-contained form that models and grammars need.

pydantic emits `title`s, `$defs` and `$ref`s. A model reads titles as noise, and a grammar built from one
tool's schema embedded inside the agent's step schema cannot follow a `$ref` that points at another
document's `$defs`, so references are inlined and titles dropped (a property *named* `title` is kept).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nativa.errors import SchemaError

_NESTED_MAPS = ("properties", "$defs", "definitions", "patternProperties")


def clean_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `schema` with `$ref`s inlined and annotation-only keys removed."""
    defs = dict(schema.get("$defs") or {}) | dict(schema.get("definitions") or {})
    return _clean(schema, defs, ())


def _clean(node: Any, defs: Mapping[str, Any], seen: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_clean(x, defs, seen) for x in node]
    if not isinstance(node, Mapping):
        return node
    if "$ref" in node:
        ref = str(node["$ref"])
        name = ref.rsplit("/", 1)[-1]
        if name in seen:
            raise SchemaError(f"tool arguments may not be recursive types; {name!r} refers to itself")
        if name not in defs:
            raise SchemaError(f"unresolvable $ref {ref!r}; only local #/$defs references are supported")
        merged = dict(defs[name]) | {k: v for k, v in node.items() if k != "$ref"}
        return _clean(merged, defs, (*seen, name))
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("title", "$defs", "definitions", "examples"):
            continue
        if key in _NESTED_MAPS and isinstance(value, Mapping):
            out[key] = {k: _clean(v, defs, seen) for k, v in value.items()}
        else:
            out[key] = _clean(value, defs, seen)
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
