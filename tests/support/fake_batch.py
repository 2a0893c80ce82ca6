"""A fake llama.cpp for the batched decoder's unit tests, and a batching chat model built on it.

`FakeBackend` keeps, for every sequence, the tokens its KV cells would hold, and checks each call against
them (a decode at the wrong position, or a prompt evaluated on top of stale cells, fails the test). Its
"model" answers each prompt with a scripted text, one character per token, then end of generation; a
sampled (temperature > 0) answer ends with the sampler's seed, so tests can see which seed each sample got.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from nativa.models.base import (
    Completion,
    Delta,
    GenerationOptions,
    MessagesLike,
    as_messages,
    check_n,
    with_seed,
)
from nativa.models.batch import BatchEngine

EOG = 0


class FakeSampler:
    def __init__(self, backend: FakeBackend, temperature: float, seed: int | None, grammar: Any) -> None:
        self.backend = backend
        self.temperature = temperature
        self.seed = seed
        self.grammar = grammar
        self.closed = False

    def _next(self, prompt: Sequence[int], generated: int) -> int:
        text = self.backend.replies.get(tuple(prompt), self.backend.default_reply)
        if self.temperature > 0:
            text += f"#{self.seed}"
        if self.grammar is not None:
            text = f"{{{text}}}"
        return ord(text[generated]) if generated < len(text) else EOG

    def sample(self, row: int) -> int:
        seq, generated = self.backend.rows[row]
        return self._next(self.backend.prompt_of[seq], generated)

    def sample_from(self, logits: Any) -> int:
        self.backend.saved_samples += 1
        prompt, generated = logits
        return self._next(prompt, generated)

    def close(self) -> None:
        self.closed = True


class FakeBackend:
    """`DecodeBackend` without llama.cpp; `step_delay_s` and `hold` slow or stop its decode steps."""

    def __init__(self, n_seq: int = 4, seq_ctx: int = 256, *, replies: dict[tuple[int, ...], str] | None = None,
                 default_reply: str = "ok", step_delay_s: float = 0.0) -> None:
        self.n_seq = n_seq
        self.seq_ctx = seq_ctx
        self.replies = replies or {}
        self.default_reply = default_reply
        self.step_delay_s = step_delay_s
        self.hold = threading.Event()
        self.hold.set()
        self.cells: list[list[int]] = [[] for _ in range(n_seq)]
        self.prompt_of: list[list[int]] = [[] for _ in range(n_seq)]
        self.rows: list[tuple[int, int]] = []  # per row of the last decode: (seq, tokens generated so far)
        self.evaluated: list[tuple[int, int]] = []  # (seq, tokens evaluated) per prompt evaluation
        self.copies: list[tuple[int, int]] = []
        self.steps: list[int] = []  # rows per decode step
        self.saved_samples = 0
        self.fail_next_decode: BaseException | None = None
        self.samplers: list[FakeSampler] = []
        self.closed = False

    def _generated(self, seq: int) -> int:
        return len(self.cells[seq]) - len(self.prompt_of[seq])

    def eval_prompt(self, seq: int, tokens: Sequence[int], start: int) -> None:
        assert len(self.cells[seq]) == start, f"stream {seq} holds {len(self.cells[seq])} cells, not {start}"
        self.cells[seq] = list(tokens)
        self.prompt_of[seq] = list(tokens)
        self.evaluated.append((seq, len(tokens) - start))
        self.rows = [(seq, 0)]

    def decode(self, rows: Sequence[tuple[int, int, int]]) -> None:
        self.hold.wait(30)
        if self.step_delay_s:
            time.sleep(self.step_delay_s)
        if self.fail_next_decode is not None:
            exc, self.fail_next_decode = self.fail_next_decode, None
            raise exc
        seqs = [seq for seq, _, _ in rows]
        assert seqs == sorted(seqs), f"rows out of sequence order {seqs}: llama.cpp would split the step"
        for seq, token, pos in rows:
            assert pos == len(self.cells[seq]), f"stream {seq}: decode at {pos}, cells {len(self.cells[seq])}"
            assert len(self.cells[seq]) < self.seq_ctx, f"stream {seq} is past its {self.seq_ctx} cells"
            self.cells[seq].append(token)
        self.rows = [(seq, self._generated(seq)) for seq, _, _ in rows]
        self.steps.append(len(rows))

    def last_logits(self) -> Any:
        seq, generated = self.rows[-1]
        return (tuple(self.prompt_of[seq]), generated)

    def keep(self, seq: int, n: int) -> None:
        self.cells[seq] = self.cells[seq][:n]
        if n < len(self.prompt_of[seq]):
            self.prompt_of[seq] = self.prompt_of[seq][:n]

    def copy(self, src: int, dst: int) -> None:
        self.cells[dst] = list(self.cells[src])
        self.prompt_of[dst] = list(self.prompt_of[src])
        self.copies.append((src, dst))

    def sampler(self, temperature: float, seed: int | None, grammar: Any) -> FakeSampler:
        sampler = FakeSampler(self, temperature, seed, grammar)
        self.samplers.append(sampler)
        return sampler

    def is_eog(self, token: int) -> bool:
        return token == EOG

    def piece(self, token: int) -> bytes:
        return chr(token).encode()

    def close(self) -> None:
        self.closed = True


def engine(backend: FakeBackend, name: str = "fake") -> BatchEngine:
    return BatchEngine(lambda: backend, name=name, n_seq=backend.n_seq, seq_ctx=backend.seq_ctx)


class FakeBatchingModel:
    """A `ChatModel` whose `batch_stream` and `complete_many` run on a `BatchEngine` over `FakeBackend`:
    the reply to a message is `reply`, or 'echo <message>' (the prompt is the message's characters)."""

    provider = "test"
    remote = False

    def __init__(self, name: str = "small", *, max_batch: int = 2, step_delay_s: float = 0.0,
                 reply: str | None = None) -> None:
        self.name = name
        self.reply = reply
        self.max_batch = max_batch
        self.backend = FakeBackend(n_seq=max_batch, seq_ctx=512, step_delay_s=step_delay_s)
        self.engine = engine(self.backend, name)
        self.streamed = 0

    @property
    def batch_running(self) -> int:
        return self.engine.active

    def _prompt(self, messages: MessagesLike) -> list[int]:
        content = as_messages(messages)[-1].content
        tokens = [ord(c) for c in content] or [32]
        self.backend.replies[tuple(tokens)] = self.reply or f"echo {content}"
        return tokens

    def count_tokens(self, text: str) -> int:
        return len(text)

    def batch_stream(self, messages: MessagesLike, options: GenerationOptions | None = None, *,
                     should_stop: Any = None) -> Iterator[Delta]:
        self.streamed += 1
        ticket = self.engine.submit(self._prompt(messages), options or GenerationOptions(), should_stop=should_stop)
        yield from ticket.stream()

    def stream(self, messages: MessagesLike, options: GenerationOptions | None = None) -> Iterator[Delta]:
        return self.batch_stream(messages, options)

    def complete(self, messages: MessagesLike, options: GenerationOptions | None = None) -> Completion:
        opts = options or GenerationOptions()
        return self.engine.submit(self._prompt(messages), opts).result()[0]

    def complete_many(self, messages: MessagesLike, options: GenerationOptions | None = None,
                      n: int = 1, *, should_stop: Any = None) -> list[Completion]:
        opts = options or GenerationOptions()
        return self.engine.submit(self._prompt(messages), with_seed(opts, 0), n=check_n(n),
                                  should_stop=should_stop).result()
