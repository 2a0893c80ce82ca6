"""Several sequences per decode step: the embedded model's batched decoder and its continuous-batching loop.

A decode step that advances one sequence leaves most of the CPU's arithmetic idle, so `BatchEngine`
advances every running sequence in one `llama_decode`. Work arrives as tickets: n samples of one prompt
(`LocalModel.complete_many`, the agent's candidates) or one request's sequence (the server). Between steps
the engine admits waiting tickets in arrival order while it has free sequences: the prompt is evaluated
once, into one sequence, and copied into the ticket's other sequences; each sequence then samples with its
own llama.cpp sampler chain (temperature, seed, grammar), stops on end of generation, its own stop strings
or `max_tokens`, and leaves; its place is taken at the next step. A cancelled ticket (a client that hung
up) leaves at the next step too.

Same answers: a prompt is always evaluated whole, in the same chunks as the single-sequence path, so a
request's numbers never depend on what ran before it or beside it. The one reuse is exact: a finished
sequence keeps its cells and its prompt's last logits, and a later ticket with the very same prompt (a
repeated request, the next draw of candidates) starts from them, which is bit-for-bit what evaluating it
again would give. Reusing a mere common prefix (as llama-cpp-python does) would be faster, but evaluating a
prompt in two pieces changes llama.cpp's results in the last bits and so, sometimes, a greedy answer.

Everything touching llama.cpp runs on the engine's own thread; callers only queue tickets and read them.
The llama.cpp side is a `DecodeBackend` (see `_llama_batch.py`), so the scheduling can be tested with a
fake one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from nativa.errors import BadInputError, ModelError
from nativa.models._text import TextAssembler
from nativa.models._ticket import BatchTicket
from nativa.models.base import Completion, GenerationOptions, with_seed

log = logging.getLogger("nativa.models.batch")


class Sampler(Protocol):
    """One sequence's sampler chain (temperature, seed, grammar), which accepts each token it draws."""

    def sample(self, row: int) -> int:
        """Draw from the logits of batch row `row` (-1: the last row with logits) and accept the token."""
        ...

    def sample_from(self, logits: Any) -> int:
        """Draw from saved logits exactly as `sample` would from live ones (samples of one prompt share its
        evaluation)."""
        ...

    def close(self) -> None:
        """Free the chain; the sampler is not used again."""
        ...


class DecodeBackend(Protocol):
    """The llama.cpp operations the engine needs; positions are per sequence, rows are batch indices."""

    n_seq: int
    seq_ctx: int

    def eval_prompt(self, seq: int, tokens: Sequence[int], start: int) -> None:
        """Evaluate `tokens[start:]` into sequence `seq` (the tokens before `start` are already cached)."""
        ...

    def decode(self, rows: Sequence[tuple[int, int, int]]) -> None:
        """One decode step: a (seq, token, position) row per sequence, logits for every row."""
        ...

    def last_logits(self) -> Any:
        """A copy of the last decoded row's logits, to sample the first token of several samples from."""
        ...

    def keep(self, seq: int, n: int) -> None:
        """Keep the first `n` positions of `seq`'s cache and drop the rest, so a freed sequence is reused."""
        ...

    def copy(self, src: int, dst: int) -> None:
        """Share `src`'s cached positions with `dst`: samples of one prompt evaluate it once."""
        ...

    def sampler(self, temperature: float, seed: int | None, grammar: Any) -> Sampler:
        """A sampler for one sequence of one job."""
        ...

    def is_eog(self, token: int) -> bool:
        """Whether `token` ends generation (end of turn or of text) for this vocabulary."""
        ...

    def piece(self, token: int) -> bytes:
        """The token's bytes (possibly part of a UTF-8 character): text is assembled from them."""
        ...

    def close(self) -> None:
        """Free the batch and the context; the backend is not used again."""
        ...


@dataclass
class _Job:
    ticket: BatchTicket
    prompt: list[int]
    options: GenerationOptions
    grammar: Any
    should_stop: Callable[[], bool] | None
    max_tokens: int


@dataclass
class _Stream:
    """One KV stream (sequence id): the tokens its cells hold (positions 0.. in order), the prompt they start
    with and that prompt's last logits (both from one whole evaluation), and when it was last taken."""

    index: int
    tokens: list[int] = field(default_factory=list)
    prompt: list[int] | None = None
    logits: Any = None
    busy: bool = False
    used: int = 0

    def holds(self, prompt: list[int]) -> bool:
        return self.logits is not None and self.prompt == prompt and self.tokens[:len(prompt)] == prompt

    def forget(self) -> None:
        self.tokens, self.prompt, self.logits = [], None, None


@dataclass
class _Seq:
    job: _Job
    sample: int
    stream: _Stream
    sampler: Sampler
    assembler: TextAssembler
    started: float
    pending: int = -1
    n_out: int = 0
    ttft: float | None = None


def _asks_to_stop(should_stop: Callable[[], bool] | None) -> bool:
    try:
        return should_stop is not None and bool(should_stop())
    except Exception:  # a broken check stops its own sequence, not the engine
        log.exception("a should_stop check failed; stopping its sequence")
        return True


class BatchEngine:
    """The continuous-batching loop over one `DecodeBackend`, opened on first use on the engine's thread."""

    def __init__(self, open_backend: Callable[[], DecodeBackend], *, name: str, n_seq: int, seq_ctx: int) -> None:
        if n_seq < 1:
            raise ValueError(f"n_seq must be >= 1, got {n_seq}")
        self.name = name
        self.n_seq = n_seq
        self.seq_ctx = seq_ctx
        self._open = open_backend
        self._cond = threading.Condition()
        self._pending: deque[_Job] = deque()
        self._active: list[_Seq] = []
        self._streams = [_Stream(i) for i in range(n_seq)]
        self._thread: threading.Thread | None = None
        self._uses = 0
        self._closed = False
        self._broken: BaseException | None = None
        self.steps = 0  # decode steps taken; with `rows`, what the tests and benches read
        self.rows = 0

    # -- what callers use --------------------------------------------------------------------------
    @property
    def active(self) -> int:
        """Sequences decoding now (`LocalModel.batch_running`, which the server's batch gauge reads)."""
        return len(self._active)

    @property
    def waiting(self) -> int:
        """Jobs submitted but not yet given sequences."""
        return len(self._pending)

    def fits(self, prompt_tokens: int, max_tokens: int) -> bool:
        """Whether a prompt and its token budget fit one sequence's KV cells."""
        return prompt_tokens + max_tokens <= self.seq_ctx

    def submit(self, prompt: Sequence[int], options: GenerationOptions, *, n: int = 1, grammar: Any = None,
               should_stop: Callable[[], bool] | None = None) -> BatchTicket:
        """Queue n samples of `prompt` (sample i seeded `options.seed + i`); they join at the next step."""
        if not 1 <= n <= self.n_seq:
            raise BadInputError(f"n must be between 1 and {self.n_seq} (the batch's sequences), got {n}")
        if not prompt:
            raise BadInputError("the prompt has no tokens")
        budget = self.seq_ctx - len(prompt)
        if budget < 1:
            raise ModelError(f"the prompt is {len(prompt)} tokens, which does not fit a batched sequence's "
                             f"{self.seq_ctx} tokens (raise NATIVA_BATCH_N_CTX or shorten the input)")
        ticket = BatchTicket(n)
        job = _Job(ticket, list(prompt), options, grammar, should_stop, min(options.max_tokens, budget))
        with self._cond:
            if self._closed:
                raise ModelError(f"the batched decoder of '{self.name}' is closed")
            if self._broken is not None:
                raise ModelError(f"the batched decoder of '{self.name}' failed: {self._broken}")
            self._pending.append(job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"nativa-batch-{self.name}", daemon=True)
                self._thread.start()
            self._cond.notify()
        return ticket

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop the loop (running and waiting tickets fail) and free the llama.cpp context."""
        with self._cond:
            self._closed = True
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)

    # -- the engine's thread -----------------------------------------------------------------------
    def _run(self) -> None:
        try:
            backend = self._open()
        except BaseException as exc:  # noqa: BLE001 - every waiting caller hears why, nobody hangs
            log.error("the batched decoder of %s could not start: %s", self.name, exc)
            with self._cond:
                self._broken = exc
                jobs, self._pending = list(self._pending), deque()
            for job in jobs:
                job.ticket._fail(exc if isinstance(exc, ModelError) else ModelError(str(exc)))
            return
        try:
            self._loop(backend)
        except BaseException as exc:  # a bug must not leave callers waiting forever
            log.exception("the batched decoder of %s stopped", self.name)
            self._broken = exc
        finally:
            error = ModelError(f"the batched decoder of '{self.name}' stopped; retry")
            for seq in list(self._active):
                self._drop(seq.job, error)
            with self._cond:
                jobs, self._pending = list(self._pending), deque()
            for job in jobs:
                job.ticket._fail(error)
            backend.close()

    def _loop(self, backend: DecodeBackend) -> None:
        while True:
            self._drop_stopped()  # first, so that their sequences can go to waiting tickets right away
            with self._cond:
                while not self._closed and not self._pending and not self._active:
                    self._cond.wait()
                if self._closed:
                    return
                for job in [j for j in self._pending if j.ticket.cancelled]:
                    self._pending.remove(job)
                free = sum(1 for s in self._streams if not s.busy)
                admitted: list[_Job] = []
                while self._pending and self._pending[0].ticket.n <= free:
                    job = self._pending.popleft()
                    free -= job.ticket.n
                    admitted.append(job)
            for job in admitted:
                self._admit(backend, job)
            if self._active:
                self._step(backend)

    def _drop_stopped(self) -> None:
        for seq in list(self._active):
            job = seq.job
            if job.ticket.cancelled or _asks_to_stop(job.should_stop):
                self._drop(job, ModelError("the generation was cancelled"))

    def _drop(self, job: _Job, error: BaseException) -> None:
        """End all of a ticket's sequences and tell its caller why."""
        for seq in [s for s in self._active if s.job is job]:
            self._release(seq)
        job.ticket._fail(error)

    def _release(self, seq: _Seq) -> None:
        self._active.remove(seq)
        seq.sampler.close()
        seq.stream.busy = False

    def _admit(self, backend: DecodeBackend, job: _Job) -> None:
        """Give the ticket its streams with the prompt evaluated (or reused exactly), and sample every first
        token from the prompt's last logits."""
        started = time.perf_counter()
        prompt, n = job.prompt, job.ticket.n
        donor = next((s for s in sorted(self._streams, key=lambda s: s.busy) if s.holds(prompt)), None)
        free = sorted((s for s in self._streams if not s.busy and s is not donor), key=lambda s: s.used)
        streams = ([donor] if donor is not None and not donor.busy else []) + free
        streams = streams[:n]
        first = streams[0]
        try:
            if donor is not None:
                if donor is not first:
                    backend.copy(donor.index, first.index)
                backend.keep(first.index, len(prompt))
                logits = donor.logits
            else:
                backend.keep(first.index, 0)
                first.forget()
                backend.eval_prompt(first.index, prompt, 0)
                logits = backend.last_logits()
            for stream in streams:
                if stream is not first:
                    backend.copy(first.index, stream.index)
                stream.tokens, stream.prompt, stream.logits = list(prompt), prompt, logits
        except Exception as exc:  # noqa: BLE001 - the ticket fails, the engine and the other tickets go on
            for stream in streams:
                stream.forget()
                backend.keep(stream.index, 0)
            job.ticket._fail(exc if isinstance(exc, ModelError) else ModelError(str(exc)))
            return
        seqs = []
        for i, stream in enumerate(streams):
            self._uses += 1
            stream.busy, stream.used = True, self._uses
            sampler = backend.sampler(job.options.temperature, with_seed(job.options, i).seed, job.grammar)
            seq = _Seq(job, i, stream, sampler, TextAssembler(job.options.stop), started)
            self._active.append(seq)
            seqs.append(seq)
        for seq in seqs:  # every sample's first token comes from the one prompt evaluation
            token = seq.sampler.sample(-1) if donor is None else seq.sampler.sample_from(logits)
            self._accept(backend, seq, token)

    def _step(self, backend: DecodeBackend) -> None:
        # rows in sequence-id order: llama.cpp splits a step whose sequence ids jump around into several
        # micro-batches (measured: 8 shuffled sequences decoded at 0.63x the tokens/s of the same 8 sorted)
        seqs = sorted(self._active, key=lambda s: s.stream.index)
        rows = [(s.stream.index, s.pending, len(s.stream.tokens)) for s in seqs]
        try:
            backend.decode(rows)
        except Exception as exc:  # noqa: BLE001 - these tickets fail; their streams' cells are unknown now
            error = exc if isinstance(exc, ModelError) else ModelError(str(exc))
            for job in {id(s.job): s.job for s in seqs}.values():
                for seq in [s for s in self._active if s.job is job]:
                    seq.stream.forget()
                    backend.keep(seq.stream.index, 0)
                self._drop(job, error)
            return
        self.steps += 1
        self.rows += len(rows)
        for row, seq in enumerate(seqs):
            seq.stream.tokens.append(seq.pending)
            self._accept(backend, seq, seq.sampler.sample(row))

    def _accept(self, backend: DecodeBackend, seq: _Seq, token: int) -> None:
        """The single-sequence path's rules, token for token: EOG, stop strings, then max_tokens."""
        if backend.is_eog(token):
            self._finish(seq, "stop")
            return
        seq.n_out += 1
        if seq.ttft is None:
            seq.ttft = time.perf_counter() - seq.started
        piece = seq.assembler.feed(backend.piece(token))
        if seq.assembler.stopped:
            self._finish(seq, "stop")
            return
        if piece:
            seq.job.ticket._delta(seq.sample, piece)
        if seq.n_out >= seq.job.max_tokens:
            self._finish(seq, "length")
            return
        seq.pending = token

    def _finish(self, seq: _Seq, reason: str) -> None:
        rest = seq.assembler.finish()
        if rest:
            seq.job.ticket._delta(seq.sample, rest)
        self._release(seq)
        seq.job.ticket._done(seq.sample, Completion(
            text=seq.assembler.text, finish_reason=reason, input_tokens=len(seq.job.prompt),
            output_tokens=seq.n_out, latency_s=time.perf_counter() - seq.started, model=self.name,
            time_to_first_token_s=seq.ttft))
