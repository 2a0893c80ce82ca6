"""How a model chooses a tool: one JSON schema for the whole choice, and a parser for the reply.

Small models call tools reliably only when their output is constrained, so every step of the tool agent is
generated under a schema `{"tool": <name>, "arguments": {...}}`: an `anyOf` with one branch per tool (its
name as a constant, its own argument schema), plus `final_answer`. The grammar then cannot produce an
unknown tool or a misspelt argument; pydantic still validates the arguments before the call, because a
remote model may ignore the schema.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nativa.tools.base import Tool

FINAL = "final_answer"
FINAL_SCHEMA: dict[str, Any] = {"type": "object", "properties": {"answer": {"type": "string"}},
                                "required": ["answer"], "additionalProperties": False}


def choice_schema(tools: Sequence[Tool], *, final: bool = True) -> dict[str, Any]:
    """The step schema: exactly one of the tools (or final_answer) with its own arguments."""
    branches = [_branch(t.name, t.parameters_schema()) for t in tools]
    if final:
        branches.append(_branch(FINAL, FINAL_SCHEMA))
    if not branches:
        raise ValueError("a tool choice needs at least one tool or final_answer")
    return branches[0] if len(branches) == 1 else {"anyOf": branches}


def _branch(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {"tool": {"const": name}, "arguments": arguments},
            "required": ["tool", "arguments"], "additionalProperties": False}


@dataclass(slots=True)
class Choice:
    """A parsed reply: the tool and its (not yet validated) arguments, or why the reply is unusable."""

    tool: str | None
    arguments: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def is_final(self) -> bool:
        """Whether the model chose to answer (`final_answer`) rather than call a tool: the loop ends."""
        return self.tool == FINAL


def parse_choice(text: str, names: Sequence[str]) -> Choice:
    """Read `{"tool": ..., "arguments": {...}}`; tolerate prose around the object (unconstrained models)."""
    data = _json_object(text)
    if data is None:
        return Choice(None, error=f"the reply is not a JSON object: {text.strip()[:200]!r}. "
                                  'Reply with {"tool": "<name>", "arguments": {...}}')
    tool = data.get("tool", data.get("name"))
    arguments = data.get("arguments", data.get("args", {}))
    valid = [*names, FINAL]
    if not isinstance(tool, str) or tool not in valid:
        return Choice(str(tool) if tool is not None else None,
                      error=f"unknown tool {tool!r}; valid tools: {', '.join(valid)}")
    if not isinstance(arguments, dict):
        return Choice(tool, error=f"'arguments' must be a JSON object, got {type(arguments).__name__}")
    return Choice(tool, arguments)


def _json_object(text: str) -> dict[str, Any] | None:
    stripped = text.strip()
    try:
        data = json.loads(stripped)
        return data if isinstance(data, dict) else None
    except json.JSONDecodeError:
        pass
    start = stripped.find("{")
    while start >= 0:  # the first decodable object in the text, for models that add prose or fences
        try:
            data, _ = json.JSONDecoder().raw_decode(stripped[start:])
            if isinstance(data, dict):
                return data
        except json.JSONDecodeError:
            pass
        start = stripped.find("{", start + 1)
    return None
