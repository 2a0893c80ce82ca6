"""The @tool protocol: schemas from type hints and docstrings, validation before the call, errors as results."""

from __future__ import annotations

import asyncio
from enum import Enum
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, Field

from nativa.errors import BadInputError
from nativa.tools import Tool, ToolResult, tool
from nativa.tools._docstring import parse_docstring
from nativa.tools.base import ToolError


@tool
def add(a: int, b: int = 2) -> int:
    """Add two integers.

    Args:
        a: the first number
        b: the second number, which
            defaults to two
    """
    return a + b


class Color(str, Enum):
    RED = "red"
    BLUE = "blue"


class Point(BaseModel):
    x: float
    y: float


def test_schema_from_hints_and_google_docstring() -> None:
    assert isinstance(add, Tool) and add.name == "add" and add.description == "Add two integers."
    schema = add.parameters_schema()
    assert schema == {
        "type": "object",
        "properties": {
            "a": {"type": "integer", "description": "the first number"},
            "b": {"type": "integer", "default": 2, "description": "the second number, which defaults to two"},
        },
        "required": ["a"],
        "additionalProperties": False,
    }
    assert add.signature() == "add(a: integer, b?: integer) - Add two integers."


def test_schema_for_optional_literal_enum_list_nested_and_annotated() -> None:
    @tool(name="draw", description="Draw shapes.")
    def draw(shape: Literal["circle", "square"], color: Color, points: list[Point], label: str | None = None,
             size: Annotated[int, Field(ge=1, le=10)] = 3) -> str:
        """Ignored summary.

        :param shape: what to draw
        :param points: where
        """
        return "ok"

    schema = draw.parameters_schema()
    props = schema["properties"]
    assert draw.name == "draw" and draw.description == "Draw shapes."
    assert props["shape"] == {"enum": ["circle", "square"], "type": "string", "description": "what to draw"}
    assert props["color"] == {"enum": ["red", "blue"], "type": "string"}  # $ref inlined
    assert props["points"]["items"]["properties"] == {"x": {"type": "number"}, "y": {"type": "number"}}
    assert props["points"]["description"] == "where"
    assert props["label"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert props["size"]["minimum"] == 1 and props["size"]["maximum"] == 10
    assert "$defs" not in schema and "title" not in str(schema)
    assert set(schema["required"]) == {"shape", "color", "points"}


def test_numpy_docstring() -> None:
    doc = parse_docstring("""Scale a value.

    Parameters
    ----------
    x : float
        the value
    factor : int
        how much
    """)
    assert doc.summary == "Scale a value." and doc.params == {"x": "the value", "factor": "how much"}


def test_a_property_named_title_survives_cleaning() -> None:
    @tool
    def note(title: str) -> str:
        """Make a note."""
        return title

    assert "title" in note.parameters_schema()["properties"]


def test_missing_type_hint_and_varargs_are_refused_with_the_parameter_named() -> None:
    def untyped(x, y: int) -> int:  # type: ignore[no-untyped-def]
        return y

    with pytest.raises(BadInputError, match="parameter 'x' of tool 'untyped' has no type hint"):
        tool(untyped)

    def star(*args: int) -> int:
        return 0

    with pytest.raises(BadInputError, match=r"\*args"):
        tool(star)
    with pytest.raises(BadInputError, match="needs a name"):
        tool(lambda x: x)  # type: ignore[arg-type]


def test_arguments_validated_before_the_call_and_errors_name_field_and_expected() -> None:
    calls: list[int] = []

    @tool
    def square(n: int) -> int:
        """Square a number."""
        calls.append(n)
        return n * n

    bad = square.call({"n": "seven"})
    assert not bad.ok and bad.error_type == "ValidationError" and calls == []
    assert "'n': input should be a valid integer" in (bad.error or "")
    assert "expected: square(n: integer)" in (bad.error or "")
    missing = square.call({})
    assert "'n' is required" in (missing.error or "")
    extra = square.call({"n": 2, "m": 3})
    assert "'m' is not an argument" in (extra.error or "") and calls == []
    wrong_shape = square.call(["n"])  # type: ignore[arg-type]
    assert not wrong_shape.ok and "must be a JSON object" in (wrong_shape.error or "")
    ok = square.call({"n": "4"})  # lax conversion of a numeric string is fine
    assert ok.ok and ok.output == "16" and ok.value == 16 and calls == [4]


def test_tool_exceptions_become_observations_not_crashes() -> None:
    @tool
    def divide(a: float, b: float) -> float:
        """Divide."""
        return a / b

    @tool
    def refuse(x: str) -> str:
        """Refuse politely."""
        raise ToolError(f"cannot do {x}; try y")

    r = divide.call({"a": 1, "b": 0})
    assert not r.ok and r.error_type == "ZeroDivisionError" and "division by zero" in r.observation
    r2 = refuse.call(x="z")
    assert r2.observation == "Error (ToolError): cannot do z; try y"


def test_async_tools_run_from_sync_and_async_callers() -> None:
    @tool
    async def slow_add(a: int, b: int) -> int:
        """Add after a pause."""
        await asyncio.sleep(0.01)
        return a + b

    assert slow_add.is_async
    assert slow_add.call({"a": 1, "b": 2}).output == "3"

    async def inside_a_loop() -> tuple[ToolResult, ToolResult]:
        sync_call = slow_add.call({"a": 2, "b": 2})  # a running loop in this thread: runs on a helper thread
        return sync_call, await slow_add.acall({"a": 5, "b": 5})

    sync_result, async_result = asyncio.run(inside_a_loop())
    assert sync_result.output == "4" and async_result.output == "10"
    assert asyncio.run(add.acall({"a": 1})).output == "3"  # sync tool awaited from async code


def test_decorated_function_stays_callable_and_results_render() -> None:
    assert add(1, 1) == 2

    @tool
    def info() -> dict[str, int]:
        """Numbers."""
        return {"a": 1}

    @tool
    def nothing() -> None:
        """Nothing."""

    assert info.call().output == '{"a": 1}'
    assert nothing.call().output == "(no output)"


def test_long_output_is_truncated_and_says_so() -> None:
    @tool(max_output_chars=10)
    def long() -> str:
        """Long."""
        return "x" * 25

    r = long.call()
    assert r.truncated and r.output.startswith("x" * 10) and "15 more characters cut" in r.output


def test_bad_tool_names_are_refused() -> None:
    with pytest.raises(BadInputError, match="tool name"):
        Tool.from_function(add.fn, name="bad name!")
