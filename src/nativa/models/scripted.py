"""A model that replies from a list, for unit tests only: it makes the agent loop deterministic.

It is never a default anywhere; `resolve_model` does not know its name.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from nativa.errors import ScriptExhausted, ScriptExhaustedError  # noqa: F401 - defined in nativa.errors, importable from here as before
from nativa.models.base import (
    Completion,
    Delta,
    GenerationOptions,
    Message,
    MessagesLike,
    TokenLogprob,
    as_messages,
    check_n,
    with_seed,
)


@dataclass(frozen=True, slots=True)
class ScriptedReply:
    """A scripted reply with the log-probability every one of its word-tokens gets when logprobs are asked
    for (a plain string reply is fully certain: 0.0) and the alternatives each step offered besides it, so a
    test can script a model's doubt between answers."""

    text: str
    logprob: float = 0.0
    alternatives: tuple[tuple[str, float], ...] = ()


class ScriptedModel:
    """Replies with the scripted texts in order; an `Exception` in the script is raised instead.

    It honours `max_tokens` (counted in words), `stop` and `logprobs` like a real model, so the ChatModel
    conformance suite holds for it and a unit test's expectations hold for the real models too.
    """

    provider = "scripted"
    remote = False

    def __init__(self, replies: Iterable[str | ScriptedReply | Exception], name: str = "scripted") -> None:
        self.name = name
        self._replies = list(replies)
        self._lock = threading.Lock()
        self.calls: list[list[Message]] = []
        self.options: list[GenerationOptions] = []

    @property
    def remaining(self) -> int:
        """Replies not yet used, so a test can assert the code asked exactly as often as expected."""
        return len(self._replies)

    def count_tokens(self, text: str) -> int:
        """Words, not tokens: readable budgets in tests."""
        return len(text.split())

    def complete(self, messages: MessagesLike, options: GenerationOptions | None = None) -> Completion:
        """The next scripted reply, cut at `max_tokens` words or the first stop sequence, as a real model would.
        """
        msgs = as_messages(messages)
        opts = options or GenerationOptions()
        start = time.perf_counter()
        with self._lock:
            self.calls.append(msgs)
            self.options.append(opts)
            if not self._replies:
                raise ScriptExhaustedError(f"ScriptedModel ran out of replies after {len(self.calls) - 1} calls")
            reply = self._replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        logprob, alternatives = 0.0, ()
        if isinstance(reply, ScriptedReply):
            reply, logprob, alternatives = reply.text, reply.logprob, reply.alternatives
        words = reply.split()  # a word is a token here: budgets in tests stay readable
        finish = "stop"
        if len(words) > opts.max_tokens:
            reply, finish = " ".join(words[: opts.max_tokens]), "length"
        cut = min((i for i in (reply.find(s) for s in opts.stop if s) if i >= 0), default=-1)
        if cut >= 0:  # like a real model: the stop sequence ends the answer and is not part of it
            reply, finish = reply[:cut], "stop"
        return Completion(
            text=reply,
            finish_reason=finish,
            input_tokens=sum(self.count_tokens(m.content) for m in msgs),
            output_tokens=self.count_tokens(reply),
            latency_s=time.perf_counter() - start,
            model=self.name,
            time_to_first_token_s=0.0,
            logprobs=[TokenLogprob(piece, logprob, tuple(sorted(((piece, logprob), *alternatives),
                                                               key=lambda a: -a[1])))
                      for piece in _pieces(reply)] if opts.logprobs else None,
        )

    def complete_many(self, messages: MessagesLike, options: GenerationOptions | None = None,
                      n: int = 1) -> list[Completion]:
        """The next n scripted replies, whatever the temperature (a test scripts each candidate); each is
        recorded as one call with sample i's options (seed + i)."""
        opts = options or GenerationOptions()
        return [self.complete(messages, with_seed(opts, i)) for i in range(check_n(n))]

    def stream(self, messages: MessagesLike, options: GenerationOptions | None = None) -> Iterator[Delta]:
        """The same reply in word-sized pieces, so streaming consumers are exercised too."""
        completion = self.complete(messages, options)
        for piece in _pieces(completion.text):
            yield Delta(piece)
        yield Delta("", completion)


def _pieces(text: str) -> list[str]:
    """The reply's word-sized tokens, one per word as `count_tokens` counts them, each with the whitespace
    before it (they join to the text; trailing whitespace goes with the last)."""
    pieces = re.findall(r"\s*\S+", text)
    if not pieces:
        return [text] if text else []
    pieces[-1] += text[len("".join(pieces)):]
    return pieces
