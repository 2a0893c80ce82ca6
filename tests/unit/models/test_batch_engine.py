"""The continuous-batching loop of `BatchEngine`, over a fake decode step (no llama.cpp)."""

from __future__ import annotations

import threading

import pytest
from support.fake_batch import FakeBackend, engine

from nativa.errors import BadInputError, BatchCapacityError, ModelError
from nativa.models.base import GenerationOptions

GREEDY = GenerationOptions(max_tokens=64, temperature=0.0)


def test_concurrent_tickets_share_decode_steps() -> None:
    backend = FakeBackend(n_seq=4, replies={(1,): "aaaaaaaa", (2,): "bbbbbbbb", (3,): "cccccccc"})
    backend.hold.clear()  # let all three queue before the first step
    eng = engine(backend)
    tickets = [eng.submit([p], GREEDY) for p in (1, 2, 3)]
    backend.hold.set()
    texts = [t.result()[0].text for t in tickets]
    assert texts == ["aaaaaaaa", "bbbbbbbb", "cccccccc"]
    # each feeds its 8 characters back (the first sampled from its prompt, the end sampled after the 8th):
    # 24 rows in 8 steps of 3 (one more when the first ticket got a step alone before the others came)
    assert sum(backend.steps) == 24
    assert backend.steps.count(3) >= 7 and len(backend.steps) <= 9


def test_a_full_batch_admits_the_next_ticket_when_a_sequence_leaves() -> None:
    backend = FakeBackend(n_seq=2, replies={(1,): "a", (2,): "bbbbbbbbbb", (3,): "ccc"})
    backend.hold.clear()
    eng = engine(backend)
    tickets = [eng.submit([p], GREEDY) for p in (1, 2, 3)]
    backend.hold.set()
    assert [t.result()[0].text for t in tickets] == ["a", "bbbbbbbbbb", "ccc"]
    assert max(backend.steps) == 2  # never more sequences than streams
    assert eng.active == 0 and eng.waiting == 0


def test_n_samples_evaluate_the_prompt_once_and_seed_each_sample() -> None:
    backend = FakeBackend(n_seq=4, replies={(5, 6, 7): "x"})
    eng = engine(backend)
    out = eng.submit([5, 6, 7], GenerationOptions(max_tokens=20, temperature=0.7, seed=10), n=3).result()
    assert [c.text for c in out] == ["x#10", "x#11", "x#12"]
    assert backend.evaluated == [(0, 3)]  # one evaluation of the 3 prompt tokens
    assert backend.copies == [(0, 1), (0, 2)]  # its cells copied into the other two sequences
    assert all(c.input_tokens == 3 for c in out)
    assert [c.output_tokens for c in out] == [4, 4, 4]


def test_the_same_prompt_again_reuses_its_cells_and_logits_exactly() -> None:
    backend = FakeBackend(n_seq=2, replies={(4, 4): "hello"})
    eng = engine(backend)
    first = eng.submit([4, 4], GREEDY).result()[0]
    again = eng.submit([4, 4], GREEDY).result()[0]
    assert first.text == again.text == "hello"
    assert backend.evaluated == [(0, 2)] and backend.saved_samples == 1
    other = eng.submit([4, 5], GREEDY).result()[0]  # a prompt sharing only a prefix is evaluated whole
    assert other.text == "ok" and backend.evaluated[-1] == (1, 2)


def test_stop_strings_max_tokens_and_end_of_generation_per_sequence() -> None:
    backend = FakeBackend(n_seq=3, replies={(1,): "one STOP two", (2,): "abcdefghij", (3,): "ab"})
    backend.hold.clear()
    eng = engine(backend)
    stopped = eng.submit([1], GenerationOptions(max_tokens=50, stop=("STOP",)))
    capped = eng.submit([2], GenerationOptions(max_tokens=4))
    ended = eng.submit([3], GREEDY)
    backend.hold.set()
    s, c, e = stopped.result()[0], capped.result()[0], ended.result()[0]
    assert (s.text, s.finish_reason) == ("one ", "stop")
    assert (c.text, c.finish_reason, c.output_tokens) == ("abcd", "length", 4)
    assert (e.text, e.finish_reason, e.output_tokens) == ("ab", "stop", 2)


def test_streaming_delivers_the_text_in_pieces_then_the_completion() -> None:
    backend = FakeBackend(n_seq=1, replies={(9,): "stream me"})
    deltas = list(engine(backend).submit([9], GREEDY).stream())
    assert "".join(d.text for d in deltas) == "stream me"
    assert len(deltas) == len("stream me") + 1 and deltas[-1].completion is not None


def test_a_cancelled_ticket_leaves_at_the_next_step_and_frees_its_sequence() -> None:
    backend = FakeBackend(n_seq=1, default_reply="z" * 200, step_delay_s=0.001)
    eng = engine(backend)
    stop = threading.Event()
    running = eng.submit([1], GenerationOptions(max_tokens=200), should_stop=stop.is_set)
    waiting = eng.submit([2], GenerationOptions(max_tokens=3))
    stream = running.stream()
    next(stream)  # it is running
    stop.set()
    with pytest.raises(ModelError, match="cancelled"):
        list(stream)
    assert waiting.result()[0].text == "zzz"  # its place went to the next ticket
    assert len(backend.steps) < 100 and eng.active == 0


def test_closing_a_stream_cancels_its_sequence() -> None:
    backend = FakeBackend(n_seq=1, default_reply="y" * 200, step_delay_s=0.001)
    eng = engine(backend)
    stream = eng.submit([1], GenerationOptions(max_tokens=200)).stream()
    next(stream)
    stream.close()
    assert eng.submit([2], GenerationOptions(max_tokens=2)).result()[0].text == "yy"
    assert len(backend.steps) < 100


def test_a_failed_step_fails_its_tickets_and_the_engine_goes_on() -> None:
    backend = FakeBackend(n_seq=2, default_reply="abcdef")
    backend.hold.clear()
    eng = engine(backend)
    doomed = eng.submit([1], GREEDY)
    backend.fail_next_decode = BatchCapacityError("the batched KV cache has no room; retry shortly")
    backend.hold.set()
    with pytest.raises(BatchCapacityError, match="no room"):
        doomed.result()
    assert eng.submit([1], GREEDY).result()[0].text == "abcdef"
    assert all(s.closed for s in backend.samplers[:1])


def test_each_sequence_gets_its_own_grammar() -> None:
    backend = FakeBackend(n_seq=2, replies={(1,): "a", (2,): "b"})
    backend.hold.clear()
    eng = engine(backend)
    constrained = eng.submit([1], GREEDY, grammar="json")
    free = eng.submit([2], GREEDY)
    backend.hold.set()
    assert (constrained.result()[0].text, free.result()[0].text) == ("{a}", "b")
    assert [s.grammar for s in backend.samplers] == ["json", None]


def test_bad_submissions_are_refused_with_the_reason() -> None:
    eng = engine(FakeBackend(n_seq=2, seq_ctx=8))
    with pytest.raises(BadInputError, match="between 1 and 2"):
        eng.submit([1], GREEDY, n=3)
    with pytest.raises(BadInputError, match="no tokens"):
        eng.submit([], GREEDY)
    with pytest.raises(ModelError, match="does not fit"):
        eng.submit(list(range(1, 10)), GREEDY)
    assert eng.fits(4, 4) and not eng.fits(4, 5)


def test_max_tokens_is_capped_by_the_sequence_context() -> None:
    backend = FakeBackend(n_seq=1, seq_ctx=6, default_reply="abcdefghijkl")
    c = engine(backend).submit([1, 2], GenerationOptions(max_tokens=100)).result()[0]
    assert (c.text, c.finish_reason) == ("abcd", "length")  # 2 prompt cells + 4 = the 6 cells


def test_close_fails_waiting_tickets_and_frees_the_backend() -> None:
    backend = FakeBackend(n_seq=1, default_reply="q" * 500, step_delay_s=0.001)
    eng = engine(backend)
    running = eng.submit([1], GenerationOptions(max_tokens=500))
    waiting = eng.submit([2], GREEDY)
    eng.close()
    for ticket in (running, waiting):
        with pytest.raises(ModelError, match="stopped"):
            ticket.result()
    assert backend.closed
    with pytest.raises(ModelError, match="closed"):
        eng.submit([3], GREEDY)


def test_a_backend_that_cannot_open_fails_the_callers_instead_of_hanging() -> None:
    def broken() -> FakeBackend:
        raise ModelError("llama.cpp could not create a 4-sequence context")

    from nativa.models.batch import BatchEngine

    eng = BatchEngine(broken, name="fake", n_seq=4, seq_ctx=64)
    with pytest.raises(ModelError, match="could not create"):
        eng.submit([1], GREEDY).result()
