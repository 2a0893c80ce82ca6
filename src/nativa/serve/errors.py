"""Every failure becomes one JSON shape (OpenAI's `{"error": {...}}`), with the right status and no stack trace.

Client mistakes get 400/404/413/422 with the bad field (`param`) and what would be valid; overload 429 with
`Retry-After`; timeouts 504. Only real faults get 500, and then with an `error_id` that is also in the log
line and on the request's span, so an operator can go from a user's report to the traceback and the trace.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from opentelemetry import trace as otel_trace
from starlette.exceptions import HTTPException

from nativa import tracing
from nativa.errors import (
    ApiError,
    BadInputError,
    BatchCapacityError,
    ModelNotFoundError,
    SandboxUnavailableError,
    ServerUnreachableError,
)
from nativa.serve.jobs import CancelledError, ClientGoneError, RequestTimeoutError
from nativa.serve.queue import QueueFullError, ShuttingDownError
from nativa.serve.slots import ModelUnavailableError

log = logging.getLogger("nativa.serve")

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
          405: "invalid_request_error", 408: "timeout", 409: "conflict_error", 410: "invalid_request_error",
          413: "invalid_request_error", 422: "invalid_request_error",
          429: "rate_limit_error", 501: "not_implemented", 502: "upstream_error", 503: "unavailable",
          504: "timeout"}


def new_error_id() -> str:
    """A short random id (`err_...`) that ties a 500's body to its log line and span."""
    return "err_" + secrets.token_hex(6)


def error_body(status: int, message: str, *, param: str | None = None, code: str | None = None,
               error_id: str | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The error shape every failure uses (OpenAI's `{"error": {...}}`), with the current trace id."""
    error: dict[str, Any] = {"message": _printable(message), "type": _TYPES.get(status, "internal_error"),
                             "param": None if param is None else _printable(param), "code": code}
    if error_id is not None:
        error["error_id"] = error_id
    error.update(extra or {})
    return {"error": error, "trace_id": tracing.current_trace_id()}


def _printable(text: str) -> str:
    """Text that encodes as UTF-8: a message that quotes the client's input may quote a lone surrogate, and
    the error must not fail to encode in turn (it shows as `\\udc00`)."""
    return text if text.isascii() else text.encode("utf-8", "backslashreplace").decode("utf-8")


def error_response(status: int, message: str, **kwargs: Any) -> JSONResponse:
    """`error_body` as a JSON response with `status`; `headers` (Retry-After, ...) are passed through."""
    headers = kwargs.pop("headers", None)
    return JSONResponse(error_body(status, message, **kwargs), status_code=status, headers=headers)


def report_fault(exc: BaseException, where: str) -> str:
    """Log a real fault with a fresh error id, mark the current span, and return the id for the body."""
    error_id = new_error_id()
    trace_id = tracing.current_trace_id()
    span = otel_trace.get_current_span()
    if span.is_recording():
        span.set_attribute("nativa.error_id", error_id)
        tracing.record_error(span, exc)
    log.error("internal error %s (trace %s) in %s: %s: %s", error_id, trace_id, where, type(exc).__name__, exc,
              exc_info=exc)
    return error_id


def fault_message(error_id: str) -> str:
    """What a client is told about a real fault: only the id to report, never the exception."""
    return f"internal error; the server log and trace carry error id {error_id}"


def fault_event(error_id: str) -> bytes:
    """The end of a stream that failed after its headers (the status, 200, is out): an `error` event in the
    API's error shape, then `[DONE]`; the OpenAI clients raise on the first, the console's page stops on it."""
    payload = json.dumps(error_body(500, fault_message(error_id), error_id=error_id), separators=(",", ":"))
    return f"event: error\ndata: {payload}\n\ndata: [DONE]\n\n".encode()


CONSOLE_ATTR = "nativa_console_on"  # app.state flag: the console is mounted, so /ui errors are pages


def is_console(request: Request) -> bool:
    """A request for the browser console: its errors are HTML pages, not JSON."""
    path = request.url.path
    return (path == "/ui" or path.startswith("/ui/")) and bool(getattr(request.app.state, CONSOLE_ATTR, False))


def console_or_json(request: Request, status: int, message: str, **kwargs: Any) -> Response:
    """The error as the console's error page for a console request, else as the JSON error shape."""
    if is_console(request):
        from nativa.serve.console.views import error_page, plain_error_page

        try:
            return error_page(request, status, message)
        except Exception as exc:  # noqa: BLE001 - the page itself failed: a plain one still hides the fault
            report_fault(exc, f"the console's error page for {request.url.path}")
            return plain_error_page(status, message)
    return error_response(status, message, **kwargs)


_PARSE_FAILED = "There was an error parsing the body"  # FastAPI's words for a body json/multipart cannot read


def as_api_error(exc: BaseException, models: Sequence[str] = ()) -> ApiError | None:
    """The HTTP meaning of a known exception; None for a real fault (500)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, QueueFullError):
        return ApiError(429, str(exc), code="queue_full", headers={"Retry-After": str(exc.retry_after_s)})
    if isinstance(exc, RequestTimeoutError):
        return ApiError(504, str(exc) + "; retry, or ask for fewer tokens", code="timeout")
    if isinstance(exc, ShuttingDownError | ClientGoneError):
        return ApiError(503, str(exc), code="unavailable", headers={"Retry-After": "1"})
    if isinstance(exc, CancelledError):
        return ApiError(503, f"the request was stopped ({exc.reason}); retry", code="cancelled")
    if isinstance(exc, BatchCapacityError):
        return ApiError(503, str(exc), code="batch_full", headers={"Retry-After": str(exc.retry_after_s)})
    if isinstance(exc, ModelUnavailableError):
        return ApiError(503, str(exc), code="model_unavailable", headers={"Retry-After": "30"})
    if isinstance(exc, ModelNotFoundError):
        return ApiError(404, f"{exc}; models served here: {', '.join(models) or 'none'}", param="model",
                        code="model_not_found", extra={"models": list(models)})
    if isinstance(exc, BadInputError):
        return ApiError(400, str(exc), param=getattr(exc, "param", None))
    if isinstance(exc, SandboxUnavailableError):
        return ApiError(503, f"the sandbox is unavailable on this server: {exc}", code="sandbox_unavailable")
    if isinstance(exc, ServerUnreachableError):
        return ApiError(502, f"the model's upstream server failed: {exc}", code="upstream_error")
    return None


def _loc(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc if p != "body"]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out or "body"


_TYPE_NAMES = frozenset({"str", "int", "float", "bool", "dict", "list", "none", "bytes"})


def _is_type_tag(part: Any) -> bool:
    """pydantic names a union member in the error location by its type (`str`, `list[TextPart]`)."""
    return isinstance(part, str) and (part in _TYPE_NAMES or "[" in part)


def validation_message(errors: Sequence[dict[str, Any]]) -> tuple[int, str, str | None]:
    """(status, message, param): unreadable bodies are 400, bodies of the wrong shape 422."""
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        ctx = first.get("ctx") or {}
        return 400, f"the body is not valid JSON ({ctx.get('error', 'parse error')}); send a JSON object", None
    if first.get("type") == "missing" and tuple(first.get("loc", ())) == ("body",):
        return 400, "the request body is missing; send a JSON object (Content-Type: application/json)", None
    if tuple(first.get("loc", ())) == ("body",) and first.get("type") in ("model_attributes_type", "dict_type"):
        return 400, "the request body must be a JSON object (Content-Type: application/json)", None
    grouped: dict[str, list[str]] = {}
    for err in errors:
        loc = tuple(err.get("loc", ()))
        # one field that failed every member of a union (str | list[...]): the last loc part names a
        # member, not a field; report the field once with each alternative
        siblings = [e for e in errors if len(e.get("loc", ())) == len(loc) and tuple(e["loc"][:-1]) == loc[:-1]]
        if len(siblings) > 1 and len(loc) > 1 and any(_is_type_tag(e["loc"][-1]) for e in siblings):
            loc = loc[:-1]
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        messages = grouped.setdefault(_loc(loc), [])
        if msg not in messages:
            messages.append(msg)
    problems = [f"{field}: {', or '.join(msgs)}" for field, msgs in list(grouped.items())[:8]]
    more = f" (and {len(grouped) - 8} more)" if len(grouped) > 8 else ""
    return 422, "; ".join(problems) + more, next(iter(grouped))


def install_handlers(app: FastAPI, models: Sequence[str]) -> None:
    """Map exceptions to the error shape; anything unmapped reaches `RequestMiddleware` as a 500, and a fault
    of the middleware itself reaches the last handler here (still the shape, never a text body)."""

    async def api_error(request: Request, exc: Exception) -> Response:
        mapped = as_api_error(exc, models)
        assert mapped is not None
        if mapped.status == 503 and isinstance(exc, CancelledError | ShuttingDownError):
            log.info("request stopped: %s", exc)
        return console_or_json(request, mapped.status, mapped.message, param=mapped.param, code=mapped.code,
                               headers=mapped.headers or None, extra=mapped.extra or None)

    async def validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = json.loads(json.dumps(exc.errors(), default=str))
        status, message, param = validation_message(errors)
        return console_or_json(request, status, message, param=param)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = str(exc.detail)
        param = None
        if exc.status_code == 404 and is_console(request):
            message = "no such page in the console; the runs page links to the others"
        elif exc.status_code == 404:
            message = "no such route; see GET /openapi.json for the routes this server has"
        elif exc.status_code == 405:
            message = f"method not allowed here; allowed: {(exc.headers or {}).get('Allow', 'see /openapi.json')}"
        elif exc.status_code == 400 and message == _PARSE_FAILED and is_console(request):
            message = "this form could not be read; reload the page and send it again"
        elif exc.status_code == 400 and message == _PARSE_FAILED:
            message, param = ("the body could not be read: send JSON encoded as UTF-8 (Content-Type: "
                              "application/json)"), "body"
        return console_or_json(request, exc.status_code, message, param=param, headers=exc.headers)

    async def fault(request: Request, exc: Exception) -> Response:
        error_id = report_fault(exc, f"{request.method} {request.url.path}")
        return console_or_json(request, 500, fault_message(error_id), error_id=error_id)

    for cls in (ApiError, QueueFullError, RequestTimeoutError, ShuttingDownError, ClientGoneError, CancelledError,
                BatchCapacityError, ModelUnavailableError, BadInputError, SandboxUnavailableError,
                ServerUnreachableError):
        app.add_exception_handler(cls, api_error)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, fault)  # starlette's outermost ServerErrorMiddleware: the last word
