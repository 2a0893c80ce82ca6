"""The tool protocol: a typed function the model may call, whose failures come back as observations.

    @tool
    def add(a: int, b: int = 0) -> int:
        '''Add two numbers.

        Args:
            a: the first number
            b: the second number
        '''
        return a + b

    add.parameters_schema()          # JSON schema built from the hints and the docstring
    add.call({"a": "x"})             # ToolResult(ok=False, error="invalid arguments for tool 'add': ...")

A model's arguments are validated (pydantic) before the function runs, and anything that goes wrong, a
validation error, a `ToolError`, any exception, becomes a `ToolResult` with `ok=False` that the agent feeds
back to the model, so a bad call is a step the model can repair rather than a crash. Functions may be
`async`; `call()` runs them to completion from synchronous code, `acall()` awaits them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import json
import time
import typing
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any, overload

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from nativa import tracing
from nativa.errors import BadInputError, NativaError, ToolArgumentError, ToolError, error_name  # noqa: F401 - defined in nativa.errors, importable from here as before
from nativa.tools._docstring import parse_docstring
from nativa.tools._schema import clean_schema, describe_type

DEFAULT_MAX_OUTPUT_CHARS = 4000


@dataclass(slots=True)
class ToolResult:
    """What one tool call produced: `output` is the text the model reads; `value` the function's return."""

    ok: bool
    output: str = ""
    error: str | None = None
    error_type: str | None = None
    truncated: bool = False
    duration_s: float = 0.0
    value: Any = field(default=None, repr=False)

    @property
    def observation(self) -> str:
        """The text fed back to the model: the output, or the error with its type."""
        if self.ok:
            return self.output
        return f"Error ({self.error_type}): {self.error}" if self.error_type else f"Error: {self.error}"

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape a tool call is reported in; `value` stays out (it may not be JSON)."""
        return {"ok": self.ok, "output": self.output, "error": self.error, "error_type": self.error_type,
                "truncated": self.truncated, "duration_s": self.duration_s}


class Tool:
    """A named, described, schema-checked callable. Build one with `@tool` or `Tool.from_function`."""

    def __init__(self, fn: Callable[..., Any], *, name: str, description: str, args_model: type[BaseModel],
                 kind: str = "function", max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
                 close: Callable[[], None] | None = None, context: Callable[[], str] | None = None,
                 schema: Mapping[str, Any] | None = None, keywords: Callable[[], set[str]] | None = None) -> None:
        if not name.replace("_", "").replace("-", "").isalnum():
            raise BadInputError(f"tool name {name!r} must be letters, digits, '_' or '-'")
        self.fn = fn
        self.name = name
        self.description = description
        self.args_model = args_model
        self.kind = kind
        self.max_output_chars = max_output_chars
        self._close = close
        self._context = context
        self._schema = dict(schema) if schema is not None else None
        self._keywords = keywords

    @classmethod
    def from_function(cls, fn: Callable[..., Any], *, name: str | None = None, description: str | None = None,
                      kind: str = "function", max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
                      close: Callable[[], None] | None = None, context: Callable[[], str] | None = None,
                      keywords: Callable[[], set[str]] | None = None) -> Tool:
        """Build the argument model from `fn`'s type hints and its docstring's Args section."""
        tool_name = name or getattr(fn, "__name__", None)
        if not tool_name or tool_name == "<lambda>":
            raise BadInputError("a tool needs a name: pass name=... for lambdas and callables without __name__")
        doc = parse_docstring(inspect.getdoc(fn))
        model = arguments_model(fn, tool_name, doc.params)
        return cls(fn, name=tool_name, description=description or doc.summary or tool_name, args_model=model,
                   kind=kind, max_output_chars=max_output_chars, close=close, context=context, keywords=keywords)

    # -- schema ----------------------------------------------------------------------------------
    @property
    def is_async(self) -> bool:
        """Whether the function is a coroutine function: `acall` awaits it, `call` runs it to completion."""
        return inspect.iscoroutinefunction(self.fn)

    def parameters_schema(self) -> dict[str, Any]:
        """The arguments as a self-contained JSON schema (no titles, no $refs), strict about extra keys."""
        schema = clean_schema(self._schema if self._schema is not None else self.args_model.model_json_schema())
        schema.setdefault("properties", {})
        schema["additionalProperties"] = False
        return schema

    def signature(self) -> str:
        """One line for a prompt: `sql(query: string, max_rows?: integer) - Run one SELECT ...`."""
        schema = self.parameters_schema()
        required = set(schema.get("required", []))
        args = ", ".join(f"{n}{'' if n in required else '?'}: {describe_type(s)}"
                         for n, s in schema["properties"].items())
        return f"{self.name}({args}) - {self.description}"

    def context(self) -> str | None:
        """What the model must know to use the tool well (a database's schema), for the agent's prompt."""
        return self._context() if self._context is not None else None

    def keywords(self) -> set[str]:
        """Lower-case words that suggest a request is for this tool (a database's table and column names)."""
        return self._keywords() if self._keywords is not None else set()

    def validate(self, arguments: Mapping[str, Any] | None) -> dict[str, Any]:
        """Checked and converted arguments, or a `ToolArgumentError` naming each bad field and what is valid."""
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, Mapping):
            raise ToolArgumentError(f"arguments for tool '{self.name}' must be a JSON object, "
                                    f"got {type(arguments).__name__}; expected: {self._expected()}")
        try:
            checked = self.args_model.model_validate(dict(arguments))
        except ValidationError as exc:
            raise ToolArgumentError(f"invalid arguments for tool '{self.name}': {_problems(exc)}; "
                                    f"expected: {self._expected()}") from None
        return {name: getattr(checked, name) for name in type(checked).model_fields}

    def _expected(self) -> str:
        return self.signature().split(" - ", 1)[0]

    # -- calling ---------------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the plain function (no validation), so a decorated function stays usable as itself."""
        return self.fn(*args, **kwargs)

    def call(self, arguments: Mapping[str, Any] | None = None, /, **kwargs: Any) -> ToolResult:
        """Validate, run (awaiting an async tool), and wrap the outcome; never raises for a tool failure."""
        args = _merge(arguments, kwargs)
        with tracing.tool_span(self.name, arguments=args, description=self.description) as span:
            start = time.perf_counter()
            try:
                values = self.validate(args)
                value = self.fn(**values)
                if inspect.isawaitable(value):
                    value = _run_awaitable(value)
                result = self._wrap(value)
            except Exception as exc:  # noqa: BLE001 - a tool failure is an observation, not a crash
                result = _failure(exc)
            result.duration_s = time.perf_counter() - start
            _record(span, result)
        return result

    async def acall(self, arguments: Mapping[str, Any] | None = None, /, **kwargs: Any) -> ToolResult:
        """Like `call`, for async callers: async tools are awaited, sync ones run in a worker thread."""
        args = _merge(arguments, kwargs)
        with tracing.tool_span(self.name, arguments=args, description=self.description) as span:
            start = time.perf_counter()
            try:
                values = self.validate(args)
                if self.is_async:
                    value = await self.fn(**values)
                else:
                    value = await asyncio.to_thread(self.fn, **values)
                    if inspect.isawaitable(value):
                        value = await value
                result = self._wrap(value)
            except Exception as exc:  # noqa: BLE001
                result = _failure(exc)
            result.duration_s = time.perf_counter() - start
            _record(span, result)
        return result

    def _wrap(self, value: Any) -> ToolResult:
        if isinstance(value, ToolResult):
            return value
        text = render_value(value)
        truncated = len(text) > self.max_output_chars
        if truncated:
            text = text[: self.max_output_chars] + f"\n[... {len(text) - self.max_output_chars} more characters cut]"
        return ToolResult(ok=True, output=text, truncated=truncated, value=value)

    def close(self) -> None:
        """Release what the tool holds (a database engine, a sandbox, an MCP connection); idempotent."""
        if self._close is not None:
            closer, self._close = self._close, None
            closer()

    def __repr__(self) -> str:
        return f"Tool({self.name!r}, kind={self.kind!r})"


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...
@overload
def tool(*, name: str | None = None, description: str | None = None, kind: str = "function",
         max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS) -> Callable[[Callable[..., Any]], Tool]: ...
def tool(fn: Callable[..., Any] | None = None, /, *, name: str | None = None, description: str | None = None,
         kind: str = "function", max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS) -> Any:
    """Make a function (sync or async, plain or bound method) a `Tool`; `@tool` or `@tool(name=...)`."""

    def decorate(f: Callable[..., Any]) -> Tool:
        return Tool.from_function(f, name=name, description=description, kind=kind,
                                  max_output_chars=max_output_chars)

    return decorate(fn) if fn is not None else decorate


def arguments_model(fn: Callable[..., Any], tool_name: str, param_docs: Mapping[str, str]) -> type[BaseModel]:
    """A pydantic model with one field per parameter; every parameter needs a type hint."""
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except (NameError, TypeError) as exc:
        raise BadInputError(f"cannot read the type hints of tool '{tool_name}': {exc}") from None
    fields: dict[str, Any] = {}
    for pname, param in inspect.signature(fn).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise BadInputError(f"tool '{tool_name}' has *{pname}; tools need named parameters only")
        if pname not in hints:
            raise BadInputError(f"parameter '{pname}' of tool '{tool_name}' has no type hint; "
                                f"annotate it (e.g. {pname}: str) so its schema can be built")
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[pname] = (hints[pname], Field(default, description=param_docs.get(pname) or None))
    return create_model(f"{tool_name}_arguments", __config__=ConfigDict(extra="forbid"), **fields)


def render_value(value: Any) -> str:
    """The text a model reads for a return value: strings as-is, typed results by their own rendering."""
    if value is None:
        return "(no output)"
    if isinstance(value, str):
        return value
    observe = getattr(value, "to_observation", None)
    if callable(observe):
        return str(observe())
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    if is_dataclass(value) and not isinstance(value, type):
        return json.dumps(asdict(value), default=str, ensure_ascii=False)
    if isinstance(value, (dict, list, tuple, int, float, bool)):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


def _merge(arguments: Any, kwargs: dict[str, Any]) -> Any:
    """Arguments as given plus keywords; a non-mapping is passed on so `validate` can say what is wrong."""
    if arguments is None:
        return dict(kwargs)
    if isinstance(arguments, Mapping):
        return dict(arguments) | kwargs
    return arguments


def _problems(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(arguments)"
        if e["type"] == "missing":
            parts.append(f"'{loc}' is required")
        elif e["type"] == "extra_forbidden":
            parts.append(f"'{loc}' is not an argument")
        else:
            parts.append(f"'{loc}': {e['msg'].lower()} (got {e.get('input')!r:.60})")
    return "; ".join(parts)


def _failure(exc: Exception) -> ToolResult:
    if isinstance(exc, ToolArgumentError):
        return ToolResult(ok=False, error=str(exc), error_type="ValidationError")
    if isinstance(exc, ToolError):
        return ToolResult(ok=False, error=str(exc), error_type=error_name(exc))
    message = str(exc) or repr(exc)
    return ToolResult(ok=False, error=message, error_type=error_name(exc))


def _record(span: tracing.ToolSpan, result: ToolResult) -> None:
    span.set_result(result.observation)
    if not result.ok:
        from opentelemetry.trace import Status, StatusCode

        span.set_attribute("error.type", result.error_type or "ToolError")
        span.span.set_status(Status(StatusCode.ERROR, f"{result.error_type}: {result.error}"[:500]))


def _run_awaitable(awaitable: Any) -> Any:
    """Run a coroutine to completion from sync code, also when this thread already runs an event loop."""

    async def wrap() -> Any:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wrap())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, wrap()).result()
