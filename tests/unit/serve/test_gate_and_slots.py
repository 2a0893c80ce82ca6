"""The gate (bounded FIFO admission) and the model slot (one lazy load, however many first callers)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from unit.serve.helpers import LoadingEchoModel

from nativa import tracing
from nativa.errors import ModelNotFoundError
from nativa.serve.queue import Gate, QueueFullError, ShuttingDownError
from nativa.serve.slots import ModelSlot


def test_gate_admits_concurrency_queues_max_then_refuses_with_retry_after() -> None:
    async def scenario() -> None:
        gate = Gate(concurrency=2, max_queue=1)
        await gate.acquire()
        await gate.acquire()
        waiter = asyncio.ensure_future(gate.acquire())
        await asyncio.sleep(0)
        assert (gate.running, gate.waiting) == (2, 1)
        with pytest.raises(QueueFullError) as refused:
            await gate.acquire()
        assert refused.value.retry_after_s >= 1 and gate.rejected == 1
        gate.release(0.5)
        await asyncio.wait_for(waiter, 1)
        assert (gate.running, gate.waiting) == (2, 0)

    asyncio.run(scenario())


def test_gate_is_fifo_and_a_cancelled_waiter_leaks_no_slot() -> None:
    async def scenario() -> None:
        gate = Gate(concurrency=1, max_queue=3)
        await gate.acquire()
        order: list[int] = []

        async def wait(n: int) -> None:
            await gate.acquire()
            order.append(n)

        first, gone, last = (asyncio.ensure_future(wait(n)) for n in (1, 2, 3))
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.sleep(0)
        assert gate.waiting == 2
        gate.release()
        await asyncio.wait_for(first, 1)
        gate.release()
        await asyncio.wait_for(last, 1)
        assert order == [1, 3] and gate.running == 1
        gate.release()
        assert gate.running == 0 and await gate.wait_idle(0.1)

    asyncio.run(scenario())


def test_closed_gate_refuses_new_and_waiting_work() -> None:
    async def scenario() -> None:
        gate = Gate(concurrency=1, max_queue=2)
        await gate.acquire()
        waiter = asyncio.ensure_future(gate.acquire())
        await asyncio.sleep(0)
        gate.close()
        with pytest.raises(ShuttingDownError):
            await waiter
        with pytest.raises(ShuttingDownError):
            await gate.acquire()
        assert gate.running == 1  # the running job goes on

    asyncio.run(scenario())


def test_concurrent_first_requests_share_one_load(spans: InMemorySpanExporter) -> None:
    model = LoadingEchoModel(load_s=0.3)
    made: list[str] = []
    loaded: list[float] = []

    def factory(name: str) -> LoadingEchoModel:
        made.append(name)
        return model

    slot = ModelSlot("small", factory, Gate(), on_load=lambda _n, s: loaded.append(s))
    barrier = threading.Barrier(8)
    got: list[object] = []

    def first_request() -> None:
        barrier.wait()
        with tracing.span("request"):
            got.append(slot.get())

    threads = [threading.Thread(target=first_request) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(got) == 8 and all(m is model for m in got)
    assert made == ["small"] and model.loads == 1 and len(loaded) == 1 and loaded[0] >= 0.3
    assert slot.loaded and slot.load_s is not None and slot.load_s >= 0.3
    tracing.force_flush()
    load_spans = [s for s in spans.get_finished_spans() if s.name == "nativa.model.load"]
    assert len(load_spans) == 1 and load_spans[0].attributes["nativa.model.load_s"] >= 0.3
    assert load_spans[0].parent is not None  # inside the trace of the request that paid for it


def test_readiness_never_loads_and_reports_why_not() -> None:
    model = LoadingEchoModel()
    slot = ModelSlot("small", lambda _n: model, Gate())
    ready = slot.readiness()
    assert (ready.loaded, ready.loadable) == (False, True) and model.loads == 0

    def missing(name: str) -> LoadingEchoModel:
        raise ModelNotFoundError(f"model '{name}' is not installed; install it with: pip install x")

    broken = ModelSlot("large", missing, Gate()).readiness()
    assert not broken.loadable and "pip install" in (broken.detail or "")
