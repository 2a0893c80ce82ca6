"""The serving side of continuous batching (`nativa.serve.scheduler`) over a fake decode step: which models
batch, the gate widened to the batch once, and a job's stream leaving the batch when the job is cancelled."""

from __future__ import annotations

import threading

import pytest
from support.fake_batch import FakeBatchingModel
from support.waiting import wait_for
from unit.serve.helpers import EchoModel

from nativa.models import GenerationOptions, Message
from nativa.serve.jobs import Cancelled, JobControl
from nativa.serve.queue import Gate
from nativa.serve.scheduler import BatchAdmission, batch_width, stream_for
from nativa.serve.slots import ModelSlot

LONG = GenerationOptions(max_tokens=400)


def _slot(model: object) -> ModelSlot:
    return ModelSlot("small", lambda _name: model, Gate(concurrency=1, max_queue=4))  # type: ignore[arg-type,return-value]


def _messages(text: str) -> list[Message]:
    return [Message("user", text)]


def test_only_a_model_with_a_batch_of_two_or_more_batches() -> None:
    assert batch_width(EchoModel()) == 1  # no batch_stream: one request at a time
    assert batch_width(FakeBatchingModel(max_batch=1)) == 1
    assert batch_width(FakeBatchingModel(max_batch=3)) == 3


def test_the_gate_is_widened_to_the_batch_once_and_the_workers_are_kept() -> None:
    admission = BatchAdmission()
    slot = _slot(FakeBatchingModel(max_batch=3))
    pool = admission.executor(slot)
    assert pool is not None and slot.gate.concurrency == 3
    assert admission.executor(slot) is pool  # one pool per model, not one per request
    admission.shutdown()


def test_a_model_that_does_not_batch_keeps_its_one_slot() -> None:
    admission = BatchAdmission()
    slot = _slot(EchoModel())
    assert admission.executor(slot) is None
    assert slot.gate.concurrency == 1


def test_concurrent_jobs_stream_their_own_text_through_shared_steps() -> None:
    model = FakeBatchingModel(max_batch=3, step_delay_s=0.002)
    texts: dict[int, str] = {}

    def run(i: int) -> None:
        stream = stream_for(model, JobControl())
        texts[i] = "".join(d.text for d in stream(_messages(f"job {i}"), GenerationOptions(max_tokens=50)))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert texts == {i: f"echo job {i}" for i in range(3)}
    assert max(model.backend.steps) >= 2  # the jobs shared decode steps
    assert model.batch_running == 0


def test_a_cancelled_job_leaves_the_batch_at_the_next_step_as_a_cancel_not_a_fault() -> None:
    model = FakeBatchingModel(max_batch=2, step_delay_s=0.005, reply="y" * 400)
    control = JobControl()
    stream = stream_for(model, control)(_messages("long"), LONG)
    assert next(stream).text == "y"
    control.cancel("disconnect")
    with pytest.raises(Cancelled):
        for _ in stream:
            pass
    assert wait_for(lambda: model.batch_running == 0)
    assert len(model.backend.steps) < 300  # it stopped; it did not decode 400 tokens for nobody


def test_a_job_cancelled_before_it_starts_never_takes_a_sequence() -> None:
    model = FakeBatchingModel(max_batch=2)
    control = JobControl()
    control.cancel("timeout")
    with pytest.raises(Cancelled):
        next(stream_for(model, control)(_messages("late"), LONG))
    assert model.streamed == 0 and model.backend.steps == []
