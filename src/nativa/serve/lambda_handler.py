"""AWS Lambda entry point: `nativa.serve.lambda_handler.handler` serves API Gateway (REST v1, HTTP v2, ALB)
through Mangum, and S3/SQS/direct events through `events.EventProcessor`.

The app, its model and the sandbox live in the container (module state), built on the first invocation:
the model loads once per container (the cold start) and every later invocation reuses it. Mangum runs
with its lifespan off: it would otherwise start and stop the app around every invocation. Spans are
flushed before returning because a frozen container exports nothing.

Every answer follows the Lambda proxy convention, `{"statusCode": N, "headers": {...}, "body": "<json>"}`:
an event that looks like HTTP (it has `httpMethod` or `requestContext`) but that Mangum cannot turn into a
request (a field missing or of the wrong type) is answered 400 in that shape, never a traceback; a direct
or S3/SQS invocation carries its payload (`results`, or the `error` object) JSON-encoded in `body`, and,
as before, also at the top level.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from mangum import Mangum

from nativa import tracing
from nativa.config import Settings, load_settings
from nativa.serve.app import create_app
from nativa.serve.config import ServeConfig, load_serve_config
from nativa.serve.errors import error_body, fault_message, report_fault
from nativa.serve.events import EventConfig, EventProcessor
from nativa.serve.objects import ObjectReader
from nativa.serve.slots import ModelFactory
from nativa.serve.state import SandboxFactory, ServerState

_FLUSH_S = 2.0


class LambdaContainer:
    """Everything one Lambda container keeps between invocations."""

    def __init__(self, settings: Settings | None = None, *, config: ServeConfig | None = None,
                 model_factory: ModelFactory | None = None, sandbox_factory: SandboxFactory | None = None,
                 reader: ObjectReader | None = None, event_config: EventConfig | None = None) -> None:
        self.settings = settings if settings is not None else load_settings()
        self.config = config if config is not None else load_serve_config(self.settings)
        self.app = create_app(self.settings, config=self.config, model_factory=model_factory,
                              sandbox_factory=sandbox_factory)
        self.state: ServerState = self.app.state.nativa
        slot = self.state.slot(None)
        self.events = EventProcessor(self.settings, slot.get, config=event_config, reader=reader,
                                     sandbox=self.state.sandbox)
        self.http = Mangum(self.app, lifespan="off")
        if self.config.preload:  # Lambda's init phase runs with more CPU: load there when asked
            with tracing.span("nativa.serve.preload"):
                slot.get()

    def __call__(self, event: Any, context: Any = None) -> dict[str, Any]:
        try:
            if is_http_event(event):
                problem = self.http_event_problem(event, context)
                if problem is not None:
                    return http_answer(400, error_body(400, problem, code="invalid_event"))
                return self.http(event, context)  # type: ignore[no-any-return]
            return with_body(self.events.handle(event))
        except Exception as exc:  # noqa: BLE001 - Lambda would hand the caller the traceback: answer instead
            return fault_answer(exc, event, "lambda invocation")
        finally:
            tracing.force_flush(_FLUSH_S)

    def http_event_problem(self, event: dict[str, Any], context: Any) -> str | None:
        """Why Mangum could not serve this HTTP-like event, or None; checked with Mangum's own handler
        for the event's shape before any request is made from it."""
        shapes = "API Gateway REST (v1) or HTTP (v2), a function URL or ALB"
        try:
            handler = self.http.infer(event, context)
        except RuntimeError:
            return (f"the event looks like HTTP (it has {_http_markers(event)}) but is no {shapes} event; "
                    "send a complete one, or a direct event such as {\"text\": \"...\"}")
        try:
            handler.scope  # noqa: B018 - building the scope and body is the check
            handler.body  # noqa: B018
        except KeyError as exc:
            return f"the HTTP event is incomplete: it has no {exc.args[0]!r} (needed for a {shapes} event)"
        except (TypeError, AttributeError, ValueError) as exc:
            return f"the HTTP event is malformed ({type(exc).__name__}: {exc}); send a complete {shapes} event"
        return None


def is_http_event(event: Any) -> bool:
    """API Gateway v1/v2 and ALB events carry `requestContext` (v1 also `httpMethod`)."""
    return isinstance(event, dict) and ("requestContext" in event or "httpMethod" in event)


def _http_markers(event: dict[str, Any]) -> str:
    return " and ".join(f"'{k}'" for k in ("httpMethod", "requestContext") if k in event)


def http_answer(status: int, payload: dict[str, Any]) -> dict[str, Any]:
    """An answer in the Lambda proxy convention, for API Gateway, function URLs and ALB."""
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(payload),
            "isBase64Encoded": False}


def fault_answer(exc: BaseException, event: Any, where: str) -> dict[str, Any]:
    """A fault as the contract's 500 (the traceback goes to the log, with the error id the body carries)."""
    error_id = report_fault(exc, where)
    body = error_body(500, fault_message(error_id), error_id=error_id)
    return http_answer(500, body) if is_http_event(event) else with_body({"statusCode": 500, **body})


def with_body(out: dict[str, Any]) -> dict[str, Any]:
    """An event's answer in the proxy convention too: its payload (results or error) JSON-encoded in
    `body`, next to the same fields at the top level that callers already read."""
    payload = {k: v for k, v in out.items() if k != "statusCode"}
    return {**out, "headers": {"content-type": "application/json"}, "body": json.dumps(payload)}


_container: LambdaContainer | None = None
_lock = threading.Lock()


def container() -> LambdaContainer:
    """The container's app, built on first use from the environment (`NATIVA_*`)."""
    global _container
    with _lock:
        if _container is None:
            _container = LambdaContainer()
        return _container


def set_container(value: LambdaContainer | None) -> None:
    """Install a container built with other factories (tests, custom readers); None rebuilds from env."""
    global _container
    with _lock:
        _container = value


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    """The Lambda handler: configure it as `nativa.serve.lambda_handler.handler`."""
    try:
        box = container()
    except Exception as exc:  # noqa: BLE001 - a broken configuration still answers in the contract's shape
        return fault_answer(exc, event, "lambda container start")
    return box(event, context)


def handle_event(event: Any) -> dict[str, Any]:
    """Event-driven work (S3 ObjectCreated, SQS, `{"text": ...}`) without HTTP; see `events`."""
    try:
        return with_body(container().events.handle(event))
    except Exception as exc:  # noqa: BLE001 - as `handler`: the contract's 500, never a traceback
        return fault_answer(exc, None, "event")
    finally:
        tracing.force_flush(_FLUSH_S)
