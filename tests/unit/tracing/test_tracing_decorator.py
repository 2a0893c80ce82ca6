"""`@traced` on sync, async, generator and async-generator functions: one span per call, nested correctly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from nativa import tracing

Recorded = Any  # the `recorded` fixture from conftest.py


@tracing.traced
def add(a: int, b: int) -> int:
    """Adds."""
    with tracing.span("inner"):
        return a + b


@tracing.traced(name="custom", attributes={"team": "data"}, kind=SpanKind.SERVER)
def named() -> str:
    return "ok"


@tracing.traced
async def fetch(x: int) -> int:
    await asyncio.sleep(0)
    with tracing.span("awaited"):
        return x * 3


@tracing.traced
def count(n: int) -> Iterator[int]:
    for i in range(n):
        with tracing.span(f"produce {i}"):
            pass
        yield i


@tracing.traced
def failing_gen() -> Iterator[int]:
    yield 1
    raise KeyError("missing")


@tracing.traced
async def acount(n: int) -> AsyncIterator[int]:
    for i in range(n):
        await asyncio.sleep(0)
        with tracing.span(f"aproduce {i}"):
            pass
        yield i


@tracing.traced
def echo() -> Iterator[int]:
    received = yield 0
    while received is not None:
        received = yield received * 10


def test_sync_function(recorded: Recorded) -> None:
    assert add(2, 3) == 5
    assert add.__doc__ == "Adds." and add.__name__ == "add"
    spans = recorded.by_name()
    outer = spans["add"]
    assert outer.attributes["code.function.name"].endswith("test_tracing_decorator.add")
    assert spans["inner"].parent.span_id == outer.context.span_id


def test_name_attributes_and_kind(recorded: Recorded) -> None:
    assert named() == "ok"
    span = recorded.by_name()["custom"]
    assert span.attributes["team"] == "data" and span.kind is SpanKind.SERVER


def test_async_function(recorded: Recorded) -> None:
    async def main() -> list[int]:
        return list(await asyncio.gather(fetch(1), fetch(2)))

    assert asyncio.run(main()) == [3, 6]
    spans = recorded.spans()
    parents = {s.context.span_id for s in spans if s.name == "fetch"}
    awaited = [s for s in spans if s.name == "awaited"]
    assert len(parents) == 2 and len(awaited) == 2
    # concurrent tasks keep their own context: each awaited span sits under its own fetch
    assert {s.parent.span_id for s in awaited} == parents


def test_generator_spans_the_iteration_and_scopes_context(recorded: Recorded) -> None:
    with tracing.span("consumer"):
        for i in count(3):
            with tracing.span(f"consume {i}"):
                pass
    spans = recorded.by_name()
    gen, consumer = spans["count"], spans["consumer"]
    assert gen.parent.span_id == consumer.context.span_id
    for i in range(3):
        assert spans[f"produce {i}"].parent.span_id == gen.context.span_id
        # the consumer's work between two next() calls is not inside the generator
        assert spans[f"consume {i}"].parent.span_id == consumer.context.span_id
    assert gen.end_time >= spans["consume 1"].end_time


def test_generator_send_is_forwarded(recorded: Recorded) -> None:
    gen = echo()
    assert next(gen) == 0
    assert gen.send(4) == 40
    assert gen.send(5) == 50
    with pytest.raises(StopIteration):
        gen.send(None)
    assert recorded.by_name()["echo"].status.status_code is StatusCode.UNSET


def test_generator_error_is_recorded_and_reraised(recorded: Recorded) -> None:
    gen = failing_gen()
    assert next(gen) == 1
    with pytest.raises(KeyError, match="missing"):
        next(gen)
    span = recorded.by_name()["failing_gen"]
    assert span.status.status_code is StatusCode.ERROR and span.attributes["error.type"] == "KeyError"


def test_generator_closed_early_is_not_an_error(recorded: Recorded) -> None:
    gen = count(10)
    assert next(gen) == 0
    gen.close()
    span = recorded.by_name()["count"]
    assert span.status.status_code is StatusCode.UNSET and span.end_time is not None


def test_generator_throw_reaches_the_function(recorded: Recorded) -> None:
    gen = count(5)
    next(gen)
    with pytest.raises(RuntimeError, match="stop"):
        gen.throw(RuntimeError("stop"))
    assert recorded.by_name()["count"].attributes["error.type"] == "RuntimeError"


def test_async_generator(recorded: Recorded) -> None:
    async def main() -> list[int]:
        out = []
        with tracing.span("aconsumer"):
            async for i in acount(2):
                out.append(i)
        return out

    assert asyncio.run(main()) == [0, 1]
    spans = recorded.by_name()
    assert spans["acount"].parent.span_id == spans["aconsumer"].context.span_id
    for i in range(2):
        assert spans[f"aproduce {i}"].parent.span_id == spans["acount"].context.span_id


def test_async_generator_error(recorded: Recorded) -> None:
    @tracing.traced
    async def bad() -> AsyncIterator[int]:
        yield 1
        raise ValueError("async boom")

    async def main() -> None:
        async for _ in bad():
            pass

    with pytest.raises(ValueError, match="async boom"):
        asyncio.run(main())
    span = recorded.by_name()["test_async_generator_error.<locals>.bad"]
    assert span.status.status_code is StatusCode.ERROR and "async boom" in (span.status.description or "")


def test_async_error_is_reraised(recorded: Recorded) -> None:
    @tracing.traced
    async def boom() -> None:
        raise ConnectionError("server gone")

    with pytest.raises(ConnectionError):
        asyncio.run(boom())
    span = recorded.spans()[0]
    assert span.attributes["error.type"] == "ConnectionError"
