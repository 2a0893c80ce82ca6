"""Every model call as a GenAI span, whoever makes it (the agent, `nativa ask`, the server).

Wrapping the stream, not the model, keeps the models free of tracing and lets the caller add what only it
knows: which prompt file (and hash) produced the messages. This is the one place a model call meets its
span: callers that want the whole answer use `traced_complete`, callers that show tokens as they come use
`traced_stream` (or `traced_complete(on_text=...)`), so span names and attributes cannot drift apart.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from nativa import tracing
from nativa.config import Settings
from nativa.errors import ModelError
from nativa.models import cost
from nativa.models.base import (
    ChatModel,
    Completion,
    Delta,
    GenerationOptions,
    Message,
    MessagesLike,
    as_messages,
)
from nativa.tracing.spans import Attributes


@contextmanager
def _model_span(model: ChatModel, msgs: list[Message], opts: GenerationOptions, prompt_file: str | None,
                prompt_hash: str | None, settings: Settings | None,
                attributes: Attributes | None) -> Iterator[Any]:
    """The one `chat {model}` span every traced call opens, with the request's messages recorded."""
    with tracing.model_span(model=model.name, provider=model.provider, remote=model.remote,
                            temperature=opts.temperature, max_tokens=opts.max_tokens, prompt_file=prompt_file,
                            prompt_hash=prompt_hash, settings=settings, attributes=attributes) as span:
        span.set_input_messages([m.to_dict() for m in msgs])
        yield span


def traced_stream(
    model: ChatModel,
    messages: MessagesLike,
    options: GenerationOptions | None = None,
    *,
    prompt_file: str | None = None,
    prompt_hash: str | None = None,
    settings: Settings | None = None,
    attributes: Attributes | None = None,
) -> Iterator[Delta]:
    """`model.stream(...)` inside a `chat {model}` span with usage, finish reason and time to first chunk."""
    opts = options or GenerationOptions()
    msgs = as_messages(messages)
    with _model_span(model, msgs, opts, prompt_file, prompt_hash, settings, attributes) as span:
        started = time.perf_counter()
        for delta in model.stream(msgs, opts):
            if delta.text:
                span.first_token()
            if delta.completion is not None:
                c = delta.completion
                span.set_result(input_tokens=c.input_tokens, output_tokens=c.output_tokens,
                                finish_reasons=[c.finish_reason], output_text=c.text)
                cost.record(model, [c], time.perf_counter() - started)
            yield delta


def traced_complete(
    model: ChatModel,
    messages: MessagesLike,
    options: GenerationOptions | None = None,
    *,
    prompt_file: str | None = None,
    prompt_hash: str | None = None,
    settings: Settings | None = None,
    attributes: Attributes | None = None,
    on_text: Callable[[str], None] | None = None,
) -> Completion:
    """The whole answer of one traced model call; `on_text` sees each piece of text as it streams.

    Streaming underneath (not `model.complete`) gives every span its time to first chunk, and lets a
    cancelled job stop between tokens.
    """
    completion: Completion | None = None
    for delta in traced_stream(model, messages, options, prompt_file=prompt_file, prompt_hash=prompt_hash,
                               settings=settings, attributes=attributes):
        if delta.text and on_text is not None:
            on_text(delta.text)
        if delta.completion is not None:
            completion = delta.completion
    if completion is None:
        raise ModelError(f"model '{model.name}' ended its stream without a completion")
    return completion


def traced_complete_many(
    model: ChatModel,
    messages: MessagesLike,
    options: GenerationOptions | None = None,
    n: int = 1,
    *,
    prompt_file: str | None = None,
    prompt_hash: str | None = None,
    settings: Settings | None = None,
) -> list[Completion]:
    """`model.complete_many(...)` as one `chat {model}` span: n recorded (`gen_ai.request.choice.count`),
    output tokens summed over the samples, one finish reason (and, with content on, one message) each."""
    opts = options or GenerationOptions()
    msgs = as_messages(messages)
    with _model_span(model, msgs, opts, prompt_file, prompt_hash, settings,
                     {"gen_ai.request.choice.count": n}) as span:
        started = time.perf_counter()
        completions = model.complete_many(msgs, opts, n)
        cost.record(model, completions, time.perf_counter() - started)
        span.set_result(input_tokens=completions[0].input_tokens if completions else 0,
                        output_tokens=sum(c.output_tokens for c in completions),
                        finish_reasons=[c.finish_reason for c in completions],
                        output_texts=[c.text for c in completions])
    return completions
