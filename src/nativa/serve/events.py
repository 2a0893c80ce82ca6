"""Event-driven work: an uploaded object, a queued message or a direct invocation runs the configured task.

Shapes understood (the ones AWS delivers to a Lambda function, and a plain one):
- S3 `ObjectCreated:*` records: the object is read through the configured `ObjectReader` and its text is
  the task's input; other S3 events are skipped, not failed, so a broad trigger does no harm.
- SQS records, and `{"body": "<json>"}`: the body's `text` is the input.
- `{"text": "..."}`: the input itself.

The task (`NATIVA_EVENT_TASK`) is `chat` (the instruction as system prompt, the text as user message) or
`code` (the text is a coding task for the code agent). The contract: `{"statusCode": 200, "results": [...]}`;
input without `text` gives `{"statusCode": 400, "error": {...}}`; a fault gives 500 with an `error_id`
that is also in the log and on the event's span.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote_plus

from pydantic import BaseModel, Field

from nativa import tracing
from nativa.config import Settings
from nativa.errors import (
    BadInputError,
    EventInputError,
    MissingTextError,
    NativaError,
)
from nativa.models.base import ChatModel, Message
from nativa.serve import tasks
from nativa.serve.errors import as_api_error, error_body, fault_message, report_fault
from nativa.serve.jobs import JobControl
from nativa.serve.objects import ObjectNotFoundError, ObjectReader, reader_from_spec

if TYPE_CHECKING:
    from nativa.sandbox.protocol import SandboxLike

DEFAULT_INSTRUCTION = "Summarise the following document in a few sentences."


class EventConfig(BaseModel):
    """What an event runs; from NATIVA_EVENT_TASK, NATIVA_EVENT_INSTRUCTION, NATIVA_EVENT_MAX_BYTES."""

    task: Literal["chat", "code"] = "chat"
    instruction: str = DEFAULT_INSTRUCTION
    max_bytes: int = Field(1_048_576, ge=1, le=64 * 1_048_576)
    max_attempts: int = Field(3, ge=1, le=10)

    @classmethod
    def from_settings(cls, settings: Settings) -> EventConfig:
        """The `event_*` settings (NATIVA_EVENT_TASK, ..._INSTRUCTION, ..._MAX_BYTES) over the defaults."""
        raw = {"task": settings.event_task, "instruction": settings.event_instruction,
               "max_bytes": settings.event_max_bytes}
        return cls(**{k: v for k, v in raw.items() if v})


class EventResult(BaseModel):
    """One item's outcome in an event's `results`; `skipped` says why an item was not run."""
    source: str
    task: str
    output: str | None = None
    skipped: str | None = None
    success: bool | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    trace_id: str | None = None
    result: dict[str, Any] | None = None


class EventProcessor:
    """Runs the configured task for each item of an event; built once per container and reused."""

    def __init__(self, settings: Settings, model: Callable[[], ChatModel], *, config: EventConfig | None = None,
                 reader: ObjectReader | None = None, sandbox: Callable[[], SandboxLike] | None = None) -> None:
        self.settings = settings
        self.model = model
        self.config = config or EventConfig.from_settings(settings)
        self._reader = reader
        self._reader_loaded = reader is not None
        self.sandbox = sandbox

    @property
    def reader(self) -> ObjectReader:
        """The store S3 records are read from, set up on first use; `BadInputError` when none is set."""
        if not self._reader_loaded:
            self._reader = reader_from_spec(self.settings.event_store, self.settings)
            self._reader_loaded = True
        if self._reader is None:
            raise BadInputError("an S3 event arrived but no object store is configured; set NATIVA_EVENT_STORE "
                                "to local:/path or s3 (or s3:https://endpoint)")
        return self._reader

    def handle(self, event: Any) -> dict[str, Any]:
        """The response for one event: `statusCode` 200 with `results`, or 4xx/500 with `error`."""
        results: list[EventResult] = []
        with tracing.span("nativa.event", {"nativa.event.shape": _shape(event)}):
            try:
                for source, get_text in self._items(event):
                    with tracing.span("nativa.event.item", {"nativa.event.source": source}):
                        results.append(self._run(source, get_text))
                return {"statusCode": 200, "results": [r.model_dump(exclude_none=True) for r in results]}
            except Exception as exc:  # noqa: BLE001 - the event contract: every failure is a status and a body
                return self._failure(exc, results)

    def _failure(self, exc: Exception, results: list[EventResult]) -> dict[str, Any]:
        mapped = as_api_error(exc)
        if isinstance(exc, ObjectNotFoundError):
            status, body = 404, error_body(404, str(exc), code="object_not_found")
        elif mapped is not None:
            status, body = mapped.status, error_body(mapped.status, mapped.message, param=mapped.param,
                                                     code=mapped.code)
        else:
            error_id = report_fault(exc, "event")
            status, body = 500, error_body(500, fault_message(error_id), error_id=error_id)
        out: dict[str, Any] = {"statusCode": status, **body}
        if results:
            out["results"] = [r.model_dump(exclude_none=True) for r in results]
        return out

    def _items(self, event: Any) -> list[tuple[str, Callable[[], str | None]]]:
        if not isinstance(event, dict):
            raise BadInputError(f"the event must be a JSON object, got {type(event).__name__}; "
                                "send {\"text\": \"...\"}, an S3 event or an SQS event")
        records = event.get("Records")
        if isinstance(records, list) and records:
            return [self._record(i, r) for i, r in enumerate(records)]
        if "text" in event:
            return [("text", lambda: _text(event.get("text"), "text"))]
        if "body" in event:
            return [("body", lambda: _text(_body(event["body"], "body").get("text"), "body.text"))]
        raise MissingTextError("the event has no 'text'; send {\"text\": \"...\"}, {\"body\": \"{\\\"text\\\": ...}\"}, "
                            "an S3 ObjectCreated event or an SQS event whose body has 'text'", "text")

    def _record(self, i: int, record: Any) -> tuple[str, Callable[[], str | None]]:
        if not isinstance(record, dict):
            raise EventInputError(f"Records[{i}] must be an object", f"Records[{i}]")
        source = record.get("eventSource") or record.get("EventSource")
        if source == "aws:s3" or "s3" in record:
            s3 = record.get("s3") or {}
            bucket = (s3.get("bucket") or {}).get("name")
            key = (s3.get("object") or {}).get("key")
            if not isinstance(bucket, str) or not isinstance(key, str) or not bucket or not key:
                raise EventInputError(f"Records[{i}].s3 needs bucket.name and object.key", f"Records[{i}].s3")
            key = unquote_plus(key)  # S3 event keys are URL-encoded, spaces as '+'
            name = str(record.get("eventName", ""))
            if not name.startswith("ObjectCreated"):
                return f"s3://{bucket}/{key}", lambda: None
            return f"s3://{bucket}/{key}", lambda: self._object_text(bucket, key)
        if source == "aws:sqs":
            ident = record.get("messageId", i)
            return f"sqs:{ident}", lambda: _text(_body(record.get("body"), f"Records[{i}].body").get("text"),
                                                 f"Records[{i}].body.text")
        raise EventInputError(f"Records[{i}]: eventSource {source!r} is not handled; valid: aws:s3, aws:sqs",
                              f"Records[{i}].eventSource")

    def _object_text(self, bucket: str, key: str) -> str:
        data = self.reader.read(bucket, key, self.config.max_bytes)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise BadInputError(f"object s3://{bucket}/{key} is not UTF-8 text; only text objects are handled") from None
        if not text.strip():
            raise BadInputError(f"object s3://{bucket}/{key} is empty; there is nothing to run the task on")
        return text

    def _run(self, source: str, get_text: Callable[[], str | None]) -> EventResult:
        text = get_text()
        task = self.config.task
        if text is None:
            return EventResult(source=source, task=task, skipped="not an ObjectCreated event")
        control = JobControl()  # the platform's own timeout bounds an event; nothing cancels it from here
        model = self.model()
        trace_id = tracing.current_trace_id()
        if task == "chat":
            messages = [Message("system", self.config.instruction), Message("user", text)]
            options = tasks.options_for(max_tokens=self.settings.max_tokens, temperature=self.settings.temperature,
                                        seed=self.settings.seed)
            c = tasks.chat(model, messages, options, self.settings, control)
            return EventResult(source=source, task=task, output=c.text, input_tokens=c.input_tokens,
                               output_tokens=c.output_tokens, trace_id=trace_id)
        if self.sandbox is None:
            raise NativaError("the code task needs a sandbox, and none was configured")
        result = tasks.code(model, self.sandbox(), task=text, code_to_fix=None, tests=None,
                            max_attempts=self.config.max_attempts, max_tokens=self.settings.max_tokens,
                            timeout_s=10.0, settings=self.settings, control=control)
        return EventResult(source=source, task=task, output=result.get("code"), success=result.get("success"),
                           input_tokens=result.get("input_tokens"), output_tokens=result.get("output_tokens"),
                           trace_id=trace_id, result=result)


def _text(value: Any, field: str) -> str:
    if value is None:
        raise MissingTextError(f"'{field}' is missing; give the input text as a non-empty string", field)
    if not isinstance(value, str) or not value.strip():
        raise MissingTextError(f"'{field}' must be a non-empty string, got {type(value).__name__}", field)
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate ("\\ud800" in JSON): no model can read it
            raise EventInputError(f"'{field}' holds a character that is not valid Unicode (a lone surrogate at "
                                  f"character {exc.start}); send UTF-8 text", field) from None
    return value


def _body(body: Any, field: str) -> dict[str, Any]:
    if isinstance(body, dict):
        return body
    if not isinstance(body, str) or not body.strip():
        raise BadInputError(f"'{field}' is missing or empty; it must be a JSON object with 'text'")
    try:
        parsed = json.loads(body)
    except json.JSONDecodeError as exc:
        raise BadInputError(f"'{field}' is not valid JSON ({exc.msg} at char {exc.pos}); "
                            "it must be a JSON object with 'text'") from None
    if not isinstance(parsed, dict):
        raise BadInputError(f"'{field}' must be a JSON object with 'text', got {type(parsed).__name__}")
    return parsed


def _shape(event: Any) -> str:
    if isinstance(event, dict) and isinstance(event.get("Records"), list) and event["Records"]:
        first = event["Records"][0]
        return str(first.get("eventSource", "records")) if isinstance(first, dict) else "records"
    return "direct"
