"""Use the tools of an MCP server as nativa tools, over stdio (a command) or streamable HTTP (a URL).

    with MCPToolset("python -m my_server") as server:       # or "http://127.0.0.1:8000/mcp"
        tools = server.tools()                              # list[Tool], schemas from the server
        agent = ToolAgent(model, tools)

The MCP client is asynchronous and its connection belongs to the event loop that opened it, while agents
and tools are called from synchronous code (and from any thread). So the toolset owns one event loop on a
background thread: it opens the connection there once, keeps it for every call, and closes it there. A tool
call is submitted to that loop and waited for with a timeout; an error result from the server becomes a
`ToolError` whose text the model reads.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Literal, Self

from pydantic import ConfigDict, Field, create_model

from nativa.errors import (
    BadInputError,
    MCPError,
    )
from nativa.tools.base import Tool, ToolError

_JSON_TYPES: dict[str, Any] = {"string": str, "integer": int, "number": float, "boolean": bool,
                               "object": dict[str, Any], "array": list[Any], "null": type(None)}


class MCPToolset:
    """One connection to one MCP server; `tools()` lists its tools as `Tool`s bound to this connection."""

    def __init__(self, server: str | Sequence[str], *, prefix: str | None = None, timeout_s: float = 30.0,
                 env: Mapping[str, str] | None = None) -> None:
        self.spec = server if isinstance(server, str) else shlex.join(server)
        self.prefix = prefix
        self.timeout_s = timeout_s
        self._target = _target(server, env)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="nativa-mcp", daemon=True)
        self._client: Any = None
        self._stop: asyncio.Event | None = None
        self._done: asyncio.Future[None] | None = None
        self._listing: list[Any] = []
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> Self:
        """Connect and list the server's tools; raises `MCPError` naming the server if that fails."""
        if self._client is not None:
            return self
        self._thread.start()
        ready = asyncio.run_coroutine_threadsafe(self._open(), self._loop)
        try:
            ready.result(self.timeout_s)
        except FutureTimeout:
            self.close()
            raise MCPError(f"MCP server {self.spec!r} did not answer within {self.timeout_s:g} s") from None
        except Exception as exc:  # noqa: BLE001 - any failure to connect is reported the same way
            self.close()
            raise MCPError(f"cannot connect to MCP server {self.spec!r}: {_flatten(exc)}") from None
        return self

    async def _open(self) -> None:
        from mcp import Client

        opened: asyncio.Future[None] = self._loop.create_future()
        self._stop = asyncio.Event()

        async def hold() -> None:
            try:
                async with Client(self._target) as client:
                    self._client = client
                    self._listing = list((await client.list_tools()).tools)
                    opened.set_result(None)
                    await self._stop.wait()  # type: ignore[union-attr]
            except BaseException as exc:
                if not opened.done():
                    opened.set_exception(exc)
                raise
            finally:
                self._client = None

        self._done = asyncio.ensure_future(hold())
        await opened

    def close(self) -> None:
        """Close the connection (ending a stdio server process) and the loop; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._thread.is_alive():
            async def shutdown() -> None:
                if self._stop is not None:
                    self._stop.set()
                if self._done is not None:
                    try:
                        await asyncio.wait_for(self._done, 10)
                    except BaseException:  # noqa: BLE001, S110 - closing: the server may already be gone
                        pass

            try:
                asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(15)
            except Exception:  # noqa: BLE001, S110 - closing: the loop may already have stopped
                pass
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        if not self._loop.is_running():
            self._loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- tools -----------------------------------------------------------------------------------
    def tools(self) -> list[Tool]:
        """The server's tools; the first tool's `close()` closes this toolset (shared by all of them)."""
        self.start()
        out = []
        for entry in self._listing:
            name = re.sub(r"[^A-Za-z0-9_-]", "_", entry.name)
            if self.prefix:
                name = f"{self.prefix}_{name}"
            schema = dict(entry.input_schema or {"type": "object", "properties": {}})
            out.append(Tool(self._caller(entry.name), name=name, description=(entry.description or entry.name).strip(),
                            args_model=_model_from_schema(name, schema), kind="mcp", close=self.close,
                            schema=schema))
        return out

    def call(self, name: str, arguments: Mapping[str, Any]) -> str:
        """Call a tool by its server-side name; the text of its result, or `ToolError` with the server's text."""
        if self._client is None:
            raise ToolError(f"the MCP server {self.spec!r} is not connected (closed or never started)")
        future = asyncio.run_coroutine_threadsafe(self._client.call_tool(name, dict(arguments)), self._loop)
        try:
            result = future.result(self.timeout_s)
        except FutureTimeout:
            future.cancel()
            raise ToolError(f"MCP tool {name!r} did not answer within {self.timeout_s:g} s") from None
        except Exception as exc:  # noqa: BLE001 - protocol errors become observations too
            raise ToolError(f"MCP tool {name!r} failed: {_flatten(exc)}") from None
        text = "\n".join(getattr(c, "text", f"<{getattr(c, 'type', 'content')}>") for c in result.content or [])
        if not text and result.structured_content is not None:
            text = str(result.structured_content)
        if result.is_error:
            raise ToolError(text or f"MCP tool {name!r} reported an error without a message")
        return text

    def _caller(self, remote_name: str) -> Any:
        def call(**arguments: Any) -> str:
            return self.call(remote_name, {k: v for k, v in arguments.items() if v is not None})

        return call


def mcp_tools(server: str | Sequence[str], **kwargs: Any) -> list[Tool]:
    """Connect to `server` and return its tools (closing any of them closes the connection)."""
    return MCPToolset(server, **kwargs).tools()


def _target(server: str | Sequence[str], env: Mapping[str, str] | None) -> Any:
    from mcp import StdioServerParameters

    if isinstance(server, str) and server.startswith(("http://", "https://")):
        return server
    argv = shlex.split(server) if isinstance(server, str) else list(server)
    if not argv:
        raise BadInputError("the MCP server is empty; give a command (e.g. 'python -m server') or an http(s) URL")
    return StdioServerParameters(command=argv[0], args=argv[1:], env=dict(env) if env else None)


def _model_from_schema(name: str, schema: Mapping[str, Any]) -> Any:
    """A pydantic model for a flat JSON object schema, so arguments are checked before the round trip."""
    props: Mapping[str, Any] = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    fields: dict[str, Any] = {}
    for pname, pschema in props.items():
        if not pname.isidentifier():
            return create_model(f"{name}_arguments", __config__=ConfigDict(extra="allow"))
        annotation = _annotation(pschema)
        default = ... if pname in required else None
        if default is None:
            annotation = annotation | None
        fields[pname] = (annotation, Field(default, description=pschema.get("description")))
    extra = "forbid" if schema.get("additionalProperties") is False or props else "allow"
    return create_model(f"{name}_arguments", __config__=ConfigDict(extra=extra), **fields)


def _annotation(schema: Mapping[str, Any]) -> Any:
    if schema.get("enum"):
        return Literal[tuple(schema["enum"])]  # type: ignore[misc]
    kind = schema.get("type")
    if isinstance(kind, list):
        types = [_JSON_TYPES.get(k, Any) for k in kind]
        union = types[0]
        for t in types[1:]:
            union = union | t
        return union
    if kind == "array" and isinstance(schema.get("items"), Mapping):
        return list[_annotation(schema["items"])]  # type: ignore[misc]
    return _JSON_TYPES.get(kind, Any) if isinstance(kind, str) else Any


def _flatten(exc: BaseException) -> str:
    """The first real error inside anyio's exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
