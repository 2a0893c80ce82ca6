"""Two ASGI middlewares: one span, metric and `x-trace-id` per request (and the last word on faults), and a
body guard that answers 413 before an oversized body is read into memory and 408 when a body does not
arrive within its deadline, both before the app (and its key check) runs.

They are plain ASGI, not `BaseHTTPMiddleware`, so streaming responses pass through untouched and the
request's span stays current for the handler, its streaming body and the worker threads it starts.

Each request's server span starts from an empty context, or from the request's own `traceparent`: never
from whatever context the server happens to run the request in. (On a keep-alive connection, uvicorn
resumes reading a large body from inside the request's task, and the event loop then runs the next
request's callbacks with that task's context, the first request's span included: every later request on
the connection became a child of the first one and carried its trace id.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Collection

from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry.trace import SpanKind
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nativa import tracing
from nativa.serve.errors import console_or_json, error_body, fault_event, fault_message, report_fault
from nativa.serve.metrics import ServerMetrics


class RequestMiddleware:
    """A SERVER span per request, its trace id in `x-trace-id`, request metrics, and 500s for faults."""

    def __init__(self, app: ASGIApp, *, metrics: ServerMetrics, routes: Collection[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        path = scope["path"]
        route = path if path in self.routes else "other"  # bounded label and span name cardinality
        attrs = {"http.request.method": method, "url.path": path, "http.route": route}
        token = otel_context.attach(_request_context(scope))
        try:
            await self._traced(scope, receive, send, method, path, route, attrs)
        finally:
            otel_context.detach(token)

    async def _traced(self, scope: Scope, receive: Receive, send: Send, method: str, path: str, route: str,
                      attrs: dict[str, str]) -> None:
        status = 500
        started = False
        streaming = False  # the response under way is server-sent events: a late fault can still be told
        complete = False
        begun = time.perf_counter()
        with tracing.span(f"{method} {route}", attrs, kind=SpanKind.SERVER) as span:
            trace_id = tracing.current_trace_id()

            async def send_traced(message: Message) -> None:
                nonlocal started, status, streaming, complete
                if message["type"] == "http.response.body" and not message.get("more_body", False):
                    complete = True
                if message["type"] == "http.response.start":
                    started = True
                    status = message["status"]
                    streaming = any(k.lower() == b"content-type" and v.startswith(b"text/event-stream")
                                    for k, v in message.get("headers", []))
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_attribute("error.type", str(status))
                    if trace_id:
                        headers = list(message.get("headers", []))
                        headers.append((b"x-trace-id", trace_id.encode()))
                        message = {**message, "headers": headers}
                await send(message)

            try:
                await self.app(scope, receive, send_traced)
            except ClientDisconnect:
                status = 499  # the client left while sending its body: nobody to answer, nothing broke
                span.set_attribute("http.response.status_code", status)
            except Exception as exc:  # noqa: BLE001 - the one place a fault becomes a 500 with an error id
                error_id = report_fault(exc, f"{method} {path}")
                self.metrics.faults.labels(route).inc()
                if not started:
                    answer = console_or_json(Request(scope), 500, fault_message(error_id), error_id=error_id)
                    await answer(scope, receive, send_traced)
                elif streaming and not complete:  # headers (200) are out: the fault is the stream's last event
                    with contextlib.suppress(Exception):  # a client that is gone cannot be told; it is logged
                        await send_traced({"type": "http.response.body", "body": fault_event(error_id),
                                           "more_body": False})
            finally:
                self.metrics.requests.labels(route, method, str(status)).inc()
                self.metrics.latency.labels(route).observe(time.perf_counter() - begun)


def _request_context(scope: Scope) -> otel_context.Context:
    """The parent of the request's span: the W3C trace context it carries, or none (a new trace)."""
    wanted = {b"traceparent", b"tracestate", b"baggage"}
    carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", []) if k in wanted}
    return propagate.extract(carrier, context=otel_context.Context())


class BodyLimitMiddleware:
    """413 for bodies over `max_bytes`, by `Content-Length` up front or by counting a chunked body, and 408
    (then the connection closes) when the whole body has not arrived `body_timeout_s` after the headers.

    The body is read here, before the app, because FastAPI turns any error raised while it reads a body
    into a generic 400; reading first keeps the 413 precise, and the deadline holds before any key check.
    Bodies are small (1 MiB by default).
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, body_timeout_s: float | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._reject(send, declared)
            return
        chunks: list[bytes] = []
        size = 0
        first: Message | None = None
        loop = asyncio.get_running_loop()
        ends = loop.time() + self.body_timeout_s if self.body_timeout_s else None
        while True:
            try:
                async with asyncio.timeout_at(ends):
                    message = await receive()
            except TimeoutError:
                await self._timed_out(send, size)
                return
            if message["type"] != "http.request":
                first = message  # the client left while sending: let the app see it
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._reject(send, size)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        pending: list[Message] = [first or {"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replay() -> Message:
            if pending:
                return pending.pop()
            return await receive()

        await self.app(scope, replay, send)

    async def _timed_out(self, send: Send, size: int) -> None:
        message = (f"the request body did not arrive within {self.body_timeout_s:g} s ({size} bytes came); "
                   "send it faster (--body-timeout); the connection is closed")
        await _answer(send, 408, error_body(408, message, code="request_timeout"))

    async def _reject(self, send: Send, size: int) -> None:
        message = (f"the request body is {size} bytes or more; this server accepts at most {self.max_bytes} "
                   "bytes (--max-body-bytes)")
        await _answer(send, 413, error_body(413, message, code="body_too_large"))


async def _answer(send: Send, status: int, payload: dict[str, object]) -> None:
    """A JSON error that also closes the connection: the rest of the body is never read."""
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"connection", b"close"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None

