"""`span(...)` and `@traced`: the two ways code (nativa's and users') opens a span.

Both record an exception on the span, set its status to ERROR and `error.type`, and re-raise it: a trace
must show why a run failed, and tracing must never change what the traced code does. Generators are traced
across their whole iteration, with the span made current only while the generator's own code runs, so spans
opened by the consumer between two `next()` calls do not nest under it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from types import TracebackType
from typing import Any, Final, TypeVar, overload

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from nativa.tracing._runtime import RUNTIME

F = TypeVar("F", bound=Callable[..., Any])
Attributes = Mapping[str, AttributeValue]

ERROR_TYPE: Final = "error.type"
# Raised into a generator or coroutine to stop it; the code did not fail, its consumer went away.
_NOT_ERRORS: Final = (GeneratorExit,)


def error_type_of(exc: BaseException) -> str:
    """Class with module (`nativa.errors.ModelError`), bare for builtins (`TimeoutError`)."""
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def record_error(span: Span, exc: BaseException) -> str:
    """Mark `span` failed by `exc`; returns the `error.type` so callers can label metrics the same way."""
    etype = error_type_of(exc)
    if span.is_recording():
        span.record_exception(exc)
        span.set_attribute(ERROR_TYPE, etype)
        message = str(exc)
        span.set_status(Status(StatusCode.ERROR, f"{etype}: {message}" if message else etype))
    return etype


class SpanScope:
    """Context manager behind `span()`: a class, not `@contextmanager`, because it sits on every hot path."""

    __slots__ = ("_attributes", "_kind", "_name", "_span", "_token")

    def __init__(self, name: str, attributes: Attributes | None, kind: SpanKind) -> None:
        self._name = name
        self._attributes = attributes
        self._kind = kind
        self._span: Span | None = None
        self._token: object | None = None

    def __enter__(self) -> Span:
        span = RUNTIME.tracer.start_span(self._name, kind=self._kind, attributes=self._attributes)
        self._token = otel_context.attach(trace.set_span_in_context(span))
        self._span = span
        return span

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        span = self._span
        assert span is not None, "SpanScope exited before it was entered"
        try:
            if exc is not None and not isinstance(exc, _NOT_ERRORS):
                record_error(span, exc)
        finally:
            otel_context.detach(self._token)  # type: ignore[arg-type]
            span.end()


def span(name: str, attributes: Attributes | None = None, kind: SpanKind = SpanKind.INTERNAL) -> SpanScope:
    """Open a span as the current one for the `with` block; exceptions are recorded and re-raised."""
    return SpanScope(name, attributes, kind)


def current_trace_id() -> str | None:
    """32 hex digits of the active trace, for results and HTTP responses; None outside any span."""
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def current_span_id() -> str | None:
    """16 hex digits of the active span; None outside any span."""
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.span_id, "016x") if ctx.is_valid else None


@overload
def traced(func: F, /) -> F: ...
@overload
def traced(
    *, name: str | None = None, attributes: Attributes | None = None, kind: SpanKind = SpanKind.INTERNAL
) -> Callable[[F], F]: ...
def traced(
    func: F | None = None,
    /,
    *,
    name: str | None = None,
    attributes: Attributes | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
) -> F | Callable[[F], F]:
    """Trace every call of a function (sync, async, generator or async generator) as one span.

    The span is named after the function's qualified name unless `name` is given, and carries
    `code.function.name` so a span can be found from the source and the other way round.
    """

    def decorate(fn: F) -> F:
        span_name = name or fn.__qualname__
        attrs: dict[str, AttributeValue] = {"code.function.name": f"{fn.__module__}.{fn.__qualname__}"}
        if attributes:
            attrs.update(attributes)
        if inspect.isasyncgenfunction(fn):
            return _wrap_async_gen(fn, span_name, attrs, kind)  # type: ignore[return-value]
        if inspect.isgeneratorfunction(fn):
            return _wrap_gen(fn, span_name, attrs, kind)  # type: ignore[return-value]
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with SpanScope(span_name, attrs, kind):
                    return await fn(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with SpanScope(span_name, attrs, kind):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate(func) if func is not None else decorate


def _wrap_gen(
    fn: Callable[..., Generator[Any, Any, Any]], name: str, attrs: Attributes, kind: SpanKind
) -> Callable[..., Generator[Any, Any, Any]]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        # Runs at the first next(): the span covers the iteration, not the creation of the generator.
        span_ = RUNTIME.tracer.start_span(name, kind=kind, attributes=attrs)
        ctx = trace.set_span_in_context(span_)
        gen = fn(*args, **kwargs)
        to_send: Any = None
        to_throw: BaseException | None = None
        try:
            while True:
                token = otel_context.attach(ctx)
                try:
                    if to_throw is not None:
                        exc, to_throw = to_throw, None
                        item = gen.throw(exc)
                    else:
                        item = gen.send(to_send)
                except StopIteration as stop:
                    return stop.value
                finally:
                    otel_context.detach(token)
                try:
                    to_send = yield item
                except GeneratorExit:
                    gen.close()
                    raise
                except BaseException as exc:  # noqa: BLE001 - thrown in by the consumer: hand it to the generator
                    to_throw = exc
        except BaseException as exc:
            if not isinstance(exc, _NOT_ERRORS):
                record_error(span_, exc)
            raise
        finally:
            span_.end()

    return wrapper


def _wrap_async_gen(
    fn: Callable[..., AsyncGenerator[Any, Any]], name: str, attrs: Attributes, kind: SpanKind
) -> Callable[..., AsyncGenerator[Any, Any]]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        span_ = RUNTIME.tracer.start_span(name, kind=kind, attributes=attrs)
        ctx = trace.set_span_in_context(span_)
        agen = fn(*args, **kwargs)
        to_send: Any = None
        to_throw: BaseException | None = None
        try:
            while True:
                token = otel_context.attach(ctx)
                try:
                    if to_throw is not None:
                        exc, to_throw = to_throw, None
                        item = await agen.athrow(exc)
                    else:
                        item = await agen.asend(to_send)
                except StopAsyncIteration:
                    return
                finally:
                    otel_context.detach(token)
                try:
                    to_send = yield item
                except GeneratorExit:
                    await agen.aclose()
                    raise
                except BaseException as exc:  # noqa: BLE001 - thrown in by the consumer: hand it on
                    to_throw = exc
        except BaseException as exc:
            if not isinstance(exc, _NOT_ERRORS):
                record_error(span_, exc)
            raise
        finally:
            span_.end()

    return wrapper
